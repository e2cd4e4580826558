"""The import console: pages for the people who import outcomes (account admins, teachers, site
admins), reading and calling the same API routes any client uses.

Plain HTML, CSS and ES modules from `static/`, served by the API itself, with no build step.
"""
