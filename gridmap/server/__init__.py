"""The HTTP server under gunicorn: buffered requests, masked access log."""
