"""A customer's JSON API for loadtest/sources.sh: answers GET /c/{id} with
a small JSON document after DELAY_MS milliseconds, and counts its calls at
GET /count. Asyncio streams, so a 50 ms answer costs no thread."""

import asyncio
import sys

PORT = int(sys.argv[1])
DELAY = float(sys.argv[2]) / 1000.0
calls = 0
BODY = b'{"tier": "gold", "points": 12480, "latest": {"status": "shipped", "number": "A-1"}}'


async def handle(reader, writer):
    global calls
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            path = line.split(b" ")[1] if len(line.split(b" ")) > 1 else b"/"
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
            if path == b"/count":
                body = str(calls).encode()
            else:
                calls += 1
                if DELAY:
                    await asyncio.sleep(DELAY)
                body = BODY
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            break
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main())
