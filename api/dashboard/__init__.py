"""The operations dashboard: pages a person opens in a browser, reading the operations JSON API.

Plain HTML, CSS and ES modules from `static/`, served by the API itself, with no build step;
the chart library is vendored as a built file with its version and licence in its name.
"""
