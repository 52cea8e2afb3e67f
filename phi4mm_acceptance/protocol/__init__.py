"""What vLLM promises and how the suite asks: the HTTP client, the API shapes, the contract by version, reply
checks, and the media the suite sends."""
