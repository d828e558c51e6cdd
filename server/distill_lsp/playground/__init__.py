"""`distill-lsp playground`: a local web page (starlette + uvicorn, the `web` extra) to try
profiles side by side on pasted code and run a small sweep, on the server's own engine."""
