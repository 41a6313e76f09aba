#!/usr/bin/env python3
"""A TCP relay for tests of connections that die with data in flight.

    cutproxy.py LISTEN_PORT TARGET_PORT [LISTEN_ADDRESS [both]]

Relays every connection made to LISTEN_ADDRESS (127.0.0.1 unless given)
port LISTEN_PORT to 127.0.0.1:TARGET_PORT, both ways. Signals:

    SIGUSR1  freeze: stop passing bytes from the target to the client (they
             wait here, unread); the other way still flows, so the target
             keeps hearing from the client and believes the connection is up
             (with "both", neither way flows)
    SIGUSR2  cut: reset every connection (RST both ways), losing what was
             frozen; new connections are relayed again as before
"""
import signal
import socket
import struct
import sys
import threading
import time

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
listen_address = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
freeze_both = len(sys.argv) > 4 and sys.argv[4] == "both"
lock = threading.Lock()
frozen = threading.Event()
conns = []


def reset(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass


def pump(src, dst, from_target):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            # Frozen: what came stays here until a cut loses it.
            while (from_target or freeze_both) and frozen.is_set():
                time.sleep(0.05)
            dst.sendall(data)
    except OSError:
        pass
    reset(src)
    reset(dst)


def on_freeze(sig, frame):
    frozen.set()


def on_cut(sig, frame):
    with lock:
        for a, b in conns:
            reset(a)
            reset(b)
        conns.clear()
    frozen.clear()


signal.signal(signal.SIGUSR1, on_freeze)
signal.signal(signal.SIGUSR2, on_cut)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((listen_address, listen_port))
srv.listen(64)
print("ready", flush=True)
while True:
    try:
        client, _ = srv.accept()
    except InterruptedError:
        continue
    try:
        target = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        continue
    with lock:
        conns.append((client, target))
    threading.Thread(target=pump, args=(client, target, False), daemon=True).start()
    threading.Thread(target=pump, args=(target, client, True), daemon=True).start()
