#!/usr/bin/python3
"""A Media Streams application written from Twilio's published protocol
(https://www.twilio.com/docs/voice/media-streams/websocket-messages), not from pivotua's code:
the peer of pivotua's media stream tests (cmd/pivotua/streams_e2e_test.go).

Usage: twilio_app.py LOGFILE. It listens on a free port of 127.0.0.1, prints the port on stdout,
and writes one JSON line per event to LOGFILE: {"t": unix seconds, "conn": n, "dir": "in"|"out"|
"open"|"close", "msg": ...}. The path the stream URL names picks what the application does:

  /echo    sends every inbound media frame back at once, and a mark after every 25th
  /clear   sends 3 s of a 1 kHz tone at once, then mark "tone-end"; 1 s later clear; then 0.5 s
           of tone and mark "short"; closes the socket 1.5 s later
  /close   closes the socket 1 s after start
  /fork    only listens
  /big     sends a message over 64 KiB
  /badjson sends a message that is not JSON
"""

import asyncio
import base64
import json
import math
import sys
import time

import websockets

LOG = open(sys.argv[1], "a", buffering=1)
CONNS = 0


def log(conn, direction, msg):
    LOG.write(json.dumps({"t": time.time(), "conn": conn, "dir": direction, "msg": msg}) + "\n")


def ulaw(sample):
    """G.711 mu-law of one 16-bit linear sample (ITU-T G.711, as Sun's g711.c computes it)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(freq, seconds):
    n = int(8000 * seconds)
    return bytes(ulaw(int(0.4 * 32767 * math.sin(2 * math.pi * freq * i / 8000))) for i in range(n))


async def send(ws, conn, msg):
    await ws.send(json.dumps(msg))
    logged = dict(msg)
    if "media" in logged:
        logged = {"event": "media", "bytes": len(base64.b64decode(msg["media"]["payload"]))}
    log(conn, "out", logged)


async def media(ws, conn, sid, audio, chunk):
    for i in range(0, len(audio), chunk):
        payload = base64.b64encode(audio[i:i + chunk]).decode()
        await send(ws, conn, {"event": "media", "streamSid": sid, "media": {"payload": payload}})


async def clear_script(ws, conn, sid):
    await media(ws, conn, sid, tone(1000, 3.0), 800)
    await send(ws, conn, {"event": "mark", "streamSid": sid, "mark": {"name": "tone-end"}})
    await asyncio.sleep(1.0)
    await send(ws, conn, {"event": "clear", "streamSid": sid})
    await asyncio.sleep(0.3)
    await media(ws, conn, sid, tone(1000, 0.5), 333)
    await send(ws, conn, {"event": "mark", "streamSid": sid, "mark": {"name": "short"}})
    await asyncio.sleep(1.5)
    await ws.close()


async def close_later(ws, seconds):
    await asyncio.sleep(seconds)
    await ws.close()


async def handler(ws, path):
    global CONNS
    CONNS += 1
    conn = CONNS
    log(conn, "open", {"path": path, "headers": {k.lower(): v for k, v in ws.request_headers.raw_items()}})
    route = path.split("?")[0]
    sid, frames, task = None, 0, None
    try:
        async for raw in ws:
            msg = json.loads(raw)
            event = msg.get("event")
            if event == "media":
                log(conn, "in", {"event": "media", "sequenceNumber": msg["sequenceNumber"], "streamSid": msg["streamSid"],
                                 "track": msg["media"]["track"], "chunk": msg["media"]["chunk"],
                                 "timestamp": msg["media"]["timestamp"],
                                 "payload": msg["media"]["payload"]})
            else:
                log(conn, "in", msg)
            if event == "start":
                sid = msg["start"]["streamSid"]
                if route == "/clear":
                    task = asyncio.ensure_future(clear_script(ws, conn, sid))
                elif route == "/close":
                    task = asyncio.ensure_future(close_later(ws, 1.0))
                elif route == "/big":
                    await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "x" * 70000}}))
                elif route == "/badjson":
                    await ws.send("{this is not json")
            elif event == "media" and route == "/echo":
                frames += 1
                try:
                    await send(ws, conn, {"event": "media", "streamSid": sid, "media": {"payload": msg["media"]["payload"]}})
                    if frames % 25 == 0:
                        await send(ws, conn, {"event": "mark", "streamSid": sid, "mark": {"name": "echo-%d" % frames}})
                except websockets.ConnectionClosed:
                    # pivotua sent stop and its close frame while this echo was going out: a send on a
                    # closing socket raises, but what arrived before the close (stop) is still queued
                    # for the loop to read.
                    pass
    except websockets.ConnectionClosed:
        pass
    finally:
        if task:
            task.cancel()
        log(conn, "close", {"code": ws.close_code, "reason": ws.close_reason})


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=1 << 20) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
