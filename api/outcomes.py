"""Placeholder until this module lands."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
