#!/usr/bin/env python3
"""Stands in for systemd's notification socket: binds a Unix datagram socket at argv[1],
prints "bound" once it listens, then each datagram received as one JSON line (its
newline-separated assignments as an object), until stdin closes or it is killed."""
import json
import os
import select
import socket
import sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print("bound", flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
        break
    if s in ready:
        data = s.recv(65536).decode("utf-8", "replace")
        fields = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
        print(json.dumps(fields), flush=True)
os.unlink(path)
