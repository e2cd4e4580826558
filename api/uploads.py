"""The uploaded file: the multipart field `attachment` or the raw body, as a stream of chunks (spec §2.3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiDict

from api.errors import ApiError, bad_request
from api.params import body_errors, stored_text
from shared.errors import UploadTooLarge

CHUNK_SIZE = 256 * 1024
# Plain form fields next to the file (import_type, extension) are tiny; anything bigger is not ours.
MAX_FIELD_BYTES = 4096

# Raises the 400 for a parameter of the upload that cannot be used (api/imports.py: import_type).
ParamsCheck = Callable[[MultiDict[str]], None]


@dataclass(slots=True)
class Upload:
    """The file of a create request; `chunks` may be consumed once."""

    chunks: AsyncIterator[bytes]
    file_name: str
    content_type: str
    params: MultiDict[str]  # query string plus plain multipart fields (those after the file once it is read)
    # A raw body without `extension` declared a charset other than UTF-8 (checked after import_type).
    bad_charset: bool = False


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"The upload exceeds the maximum size of {limit} bytes")


async def _limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        yield chunk


async def _raw_chunks(request: web.Request) -> AsyncIterator[bytes]:
    while True:
        async with body_errors(request):
            chunk = await request.content.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


async def _part_chunks(request: web.Request, part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        async with body_errors(request):
            chunk = await part.read_chunk(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


async def _next_part(request: web.Request, reader: MultipartReader) -> BodyPartReader | None:
    """The next part with a body (nested multiparts are not ours to read), or None at the end."""
    while True:
        async with body_errors(request):
            part = await reader.next()
        if part is None or isinstance(part, BodyPartReader):
            return part


async def _field(request: web.Request, part: BodyPartReader) -> str:
    async with body_errors(request):
        value = await part.read_chunk(MAX_FIELD_BYTES + 1)
    if len(value) > MAX_FIELD_BYTES:
        raise bad_request(f"The form field {part.name} is too long")
    return value.decode("utf-8", errors="replace")


async def _attachment_then_rest(
    request: web.Request,
    attachment: BodyPartReader,
    reader: MultipartReader,
    params: MultiDict[str],
    check: ParamsCheck,
) -> AsyncIterator[bytes]:
    """The attachment's bytes, then the fields after it, checked as those before it were.

    Rails reads the whole form before Canvas looks at it, so a field's place does not matter; the
    file is streamed, so fields after it are checked once it has been read, and an error raised
    here still stores nothing (the storage discards an upload whose stream fails).
    """
    async for chunk in _part_chunks(request, attachment):
        yield chunk
    while (part := await _next_part(request, reader)) is not None:
        if part.name == "attachment":
            raise bad_request("The multipart request has more than one attachment field")
        if part.name:
            params.add(part.name, await _field(request, part))
    check(params)


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield


def charset_error() -> ApiError:
    return ApiError(400, {"error": "Invalid content type, UTF-8 required"})


async def read_upload(
    request: web.Request, max_bytes: int, check: ParamsCheck, file_param: str | None = None
) -> Upload:
    """Find the file in the request without reading it; raises UploadTooLarge early when Content-Length says so.

    `check` sees the parameters (query string and form fields) and raises the 400 for a bad one:
    before the file is read, and for a multipart form again after it, with the fields that followed
    it (raised from `chunks`, so nothing is stored). A second `attachment` field is a 400 as well.
    A multipart form with no attachment but a `file_param` field (`case_package_url`, which names
    the file instead) gives an Upload with no chunks.
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    params: MultiDict[str] = MultiDict(request.query)
    extension = stored_text("extension", params.get("extension") or "")
    if request.content_type.startswith("multipart/"):
        async with body_errors(request):
            reader = await request.multipart()
        while (part := await _next_part(request, reader)) is not None:
            if part.name == "attachment":
                check(params)
                return Upload(
                    _limited(_attachment_then_rest(request, part, reader, params, check), max_bytes),
                    stored_text("attachment (its file name)", part.filename or "outcome_import.csv"),
                    stored_text("attachment (its Content-Type)", part.headers.get("Content-Type", "text/csv")),
                    params,
                )
            if part.name:
                params.add(part.name, await _field(request, part))
        if file_param is not None and file_param in params:
            check(params)
            return Upload(_no_chunks(), "", "", params)
        # Canvas would store the multipart bytes themselves as the "file"; they are consumed by now, and
        # such a file could only fail, so this service says what is missing instead.
        raise bad_request("The multipart request has no attachment field")
    if extension:
        file_name = f"outcome_import.{extension}"
    else:
        file_name = "outcome_import.csv"
    charset = request.charset
    bad_charset = not extension and charset is not None and charset.lower() != "utf-8"
    content_type = stored_text("Content-Type", request.headers.get("Content-Type", "text/csv"))
    check(params)
    return Upload(_limited(_raw_chunks(request), max_bytes), file_name, content_type, params, bad_charset)
