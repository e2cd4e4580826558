"""The arq worker: streams an uploaded Outcomes CSV back, validates it and writes it in bulk."""
