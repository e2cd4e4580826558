"""A CASE (1EdTech) package shaped like a published standards framework, streamed to disk.

Shape (deterministic for a given --items/--seed): one CFDocument; CFItems nested domain (isChildOf
the document) -> grade -> cluster -> standard (the leaves, about 85% of the items), each with a
humanCodingScheme, a ~300-character fullStatement and, for a third of them, notes; one
CFAssociation isChildOf per item plus, for 3% of the standards, a second parent (an earlier
cluster) and for 10% an exactMatchOf (not an outcome: counted as skipped). `--reverse` lists the
CFItems in reverse order (children before their parents), which costs the importer more passes.
`--wrapped` writes {"CFPackage": {...}}; `--case-version 1.0` leaves out CASE 1.1's fields.

Run: `.venv/bin/python scripts/generate_case_package.py out.json --items 200000 [--seed 1]
[--wrapped] [--reverse] [--case-version 1.1]`; prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

WORDS = (
    "analyze interpret represent compare solve explain model evaluate construct describe identify apply "
    "fractions equations ratios functions geometry data evidence arguments texts sources systems energy "
    "patterns relationships structures quantities operations reasoning claims"
).split()
DOMAINS = 6
GRADES_PER_DOMAIN = 5
CLUSTERS_PER_GRADE = 4


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sentence(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def _item(rng: random.Random, identifier: str, code: str, item_type: str, version: str) -> dict[str, object]:
    item: dict[str, object] = {
        "identifier": identifier,
        "uri": f"https://case.example.org/ims/case/v1p0/CFItems/{identifier}",
        "fullStatement": _sentence(rng, 300),
        "humanCodingScheme": code,
        "CFItemType": item_type,
        "language": "en",
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
    }
    if item_type != "Standard":
        item["abbreviatedStatement"] = _sentence(rng, 40)
    if version == "1.1" and rng.random() < 0.33:
        item["notes"] = _sentence(rng, 120)
    return item


def _node(identifier: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": f"https://case.example.org/uri/{identifier}"}


def _association(rng: random.Random, kind: str, origin: str, destination: str, sequence: int) -> dict[str, object]:
    return {
        "identifier": _uuid(rng),
        "uri": f"https://case.example.org/ims/case/v1p0/CFAssociations/{origin}-{kind}",
        "associationType": kind,
        "sequenceNumber": sequence,
        "originNodeURI": _node(origin, "item"),
        "destinationNodeURI": _node(destination, "parent"),
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
    }


def generate(
    path: Path, items: int, seed: int = 1, wrapped: bool = False, reverse: bool = False, version: str = "1.1"
) -> dict[str, int]:
    """Write the package; return its figures (items, groups, outcomes, associations by kind)."""
    rng = random.Random(seed)
    doc_id = _uuid(rng)
    groups_per_domain = 1 + GRADES_PER_DOMAIN * (1 + CLUSTERS_PER_GRADE)
    standards = max(items - DOMAINS * groups_per_domain, DOMAINS * GRADES_PER_DOMAIN * CLUSTERS_PER_GRADE)
    per_cluster = -(-standards // (DOMAINS * GRADES_PER_DOMAIN * CLUSTERS_PER_GRADE))
    entries: list[tuple[dict[str, object], list[dict[str, object]]]] = []
    clusters: list[str] = []
    made = 0
    counts = {"isChildOf": 0, "exactMatchOf": 0}

    def add(item: dict[str, object], parent: str, sequence: int) -> None:
        counts["isChildOf"] += 1
        entries.append((item, [_association(rng, "isChildOf", str(item["identifier"]), parent, sequence)]))

    for d in range(DOMAINS):
        domain = _item(rng, _uuid(rng), f"D{d + 1}", "Domain", version)
        add(domain, doc_id, d + 1)
        for g in range(GRADES_PER_DOMAIN):
            grade = _item(rng, _uuid(rng), f"{g + 1}.D{d + 1}", "Grade", version)
            add(grade, str(domain["identifier"]), g + 1)
            for c in range(CLUSTERS_PER_GRADE):
                code = f"{g + 1}.D{d + 1}.{chr(65 + c)}"
                cluster = _item(rng, _uuid(rng), code, "Cluster", version)
                add(cluster, str(grade["identifier"]), c + 1)
                for s in range(per_cluster):
                    if made >= standards:
                        break
                    made += 1
                    standard = _item(rng, _uuid(rng), f"{code}.{s + 1}", "Standard", version)
                    add(standard, str(cluster["identifier"]), s + 1)
                    extra = entries[-1][1]
                    if clusters and rng.random() < 0.03:
                        counts["isChildOf"] += 1
                        other = rng.choice(clusters)
                        extra.append(_association(rng, "isChildOf", str(standard["identifier"]), other, 99))
                    if rng.random() < 0.10:
                        counts["exactMatchOf"] += 1
                        extra.append(_association(rng, "exactMatchOf", str(standard["identifier"]), _uuid(rng), 1))
                clusters.append(str(cluster["identifier"]))
    if reverse:
        entries.reverse()
    document: dict[str, object] = {
        "identifier": doc_id,
        "uri": f"https://case.example.org/ims/case/v1p0/CFDocuments/{doc_id}",
        "creator": "Example State Department of Education",
        "title": "Example State Mathematics Standards",
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
        "adoptionStatus": "Adopted",
        "language": "en",
        "description": "Generated by scripts/generate_case_package.py.",
    }
    if version == "1.1":
        document["frameworkType"] = "Standards"
        document["caseVersion"] = "1.1"
        document["notes"] = "Generated."
    with path.open("w", encoding="utf-8") as out:
        out.write('{"CFPackage": {' if wrapped else "{")
        out.write(f'"CFDocument": {json.dumps(document)},\n"CFItems": [\n')
        out.writelines(_joined(json.dumps(item) for item, _ in entries))
        out.write('],\n"CFAssociations": [\n')
        out.writelines(_joined(json.dumps(a) for _, associations in entries for a in associations))
        out.write('],\n"CFDefinitions": {"CFItemTypes": []}, "CFRubrics": []}')
        out.write("}\n" if wrapped else "\n")
    # An item some item is isChildOf is a group (a cluster left without standards is an outcome).
    parents = {str(a["destinationNodeURI"]["identifier"]) for _, associations in entries for a in associations  # type: ignore[index]
               if a["associationType"] == "isChildOf"}
    groups = sum(1 for item, _ in entries if item["identifier"] in parents)
    return {
        "items": len(entries),
        "groups": groups + 1,
        "outcomes": len(entries) - groups,
        "associations_is_child_of": counts["isChildOf"],
        "associations_skipped": counts["exactMatchOf"],
        "bytes": path.stat().st_size,
    }


def _joined(lines: Iterator[str]) -> Iterator[str]:
    first = True
    for line in lines:
        yield line if first else ",\n" + line
        first = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wrapped", action="store_true")
    parser.add_argument("--reverse", action="store_true")
    parser.add_argument("--case-version", choices=("1.0", "1.1"), default="1.1")
    args = parser.parse_args()
    started = time.monotonic()
    figures = generate(args.path, args.items, args.seed, args.wrapped, args.reverse, args.case_version)
    figures["seconds"] = round(time.monotonic() - started, 1)  # type: ignore[assignment]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
