"""Fault injection for wsman_server.py (issue 12): `--fault STEP:KIND[:N]`, repeatable.

STEP names a request as the server's log does, ACTION:CLASS, with shell-style wildcards:
ACTION is Enumerate, Pull, Release, Get or a method (DestroySnapshot, ClearSnapshotState,
ModifySystemSettings), CLASS the last part of the resource URI, or for the "*" URI the class
of the WQL query (`Enumerate:Msvm_ComputerSystem`, `Get:Msvm_ConcreteJob`, `DestroySnapshot:*`,
`*`). KIND is what the server answers instead:
  500        HTTP 500 with a body that is no SOAP fault (as a proxy or a crashed service)
  malformed  HTTP 200 with an envelope that is not well-formed XML
  truncated  HTTP 200 whose body stops half-way, then the connection is closed
  stall      nothing for --fault-stall seconds (default 60), then the connection is closed
  lost       the request is carried out, then its reply is cut half-way (the effect happened,
             the client cannot know)
N: only the first N matching requests (default: all of them); after that the server answers
normally, as a host that recovers does. With any --fault given, --log gets `STEP STEP` for
each request answered normally and `FAULT-INJECTED KIND STEP` for each faulted one (a --fault
that matches nothing, e.g. `none:500`, lists the steps of a run).
"""

import fnmatch
import re
import threading
import time

KINDS = ("500", "malformed", "truncated", "stall", "lost")


def add_arguments(ap):
    ap.add_argument("--fault", action="append", default=[], metavar="STEP:KIND[:N]",
                    help="answer requests matching STEP with a fault (see faults.py)")
    ap.add_argument("--fault-stall", type=float, default=60.0,
                    help="seconds a 'stall' fault holds the request")


def step_of(body):
    """ACTION:CLASS of a request envelope (bytes), read loosely: a request the server cannot
    parse is its own business."""
    text = body.decode("utf-8", errors="replace")
    action = re.search(r"<[\w:]*Action[^>]*>\s*([^<\s]+)\s*<", text)
    uri = re.search(r"<[\w:]*ResourceURI[^>]*>\s*([^<\s]+)\s*<", text)
    name = action.group(1).rsplit("/", 1)[-1] if action else "?"
    cls = uri.group(1).rstrip("/").rsplit("/", 1)[-1] if uri else "?"
    if cls == "*":
        wql = re.search(r"(?i)\bFROM\s+(\w+)", text)
        cls = wql.group(1) if wql else "*"
    return f"{name}:{cls}"


class Faults:
    def __init__(self, specs, stall, log):
        self.rules = []
        self.stall = stall
        self.log = log
        self.lock = threading.Lock()
        for spec in specs:
            parts = spec.rsplit(":", 2)
            count = None
            if len(parts) == 3 and parts[2].isdigit():
                step, kind, count = parts[0], parts[1], int(parts[2])
            else:
                step, _, kind = spec.rpartition(":")
            if kind not in KINDS or not step:
                raise SystemExit(f"--fault {spec}: want STEP:KIND[:N], KIND one of {KINDS}")
            self.rules.append({"step": step, "kind": kind, "left": count})

    def take(self, step):
        """The fault kind for this request, or None; counts it against its N."""
        with self.lock:
            for rule in self.rules:
                if fnmatch.fnmatchcase(step, rule["step"]) and rule["left"] != 0:
                    if rule["left"] is not None:
                        rule["left"] -= 1
                    return rule["kind"]
        return None

    def inject(self, handler, body):
        """Answers the request with its fault, if one applies; True when it did."""
        if not self.rules:
            return False
        step = step_of(body)
        kind = self.take(step)
        if kind is None:
            self.log(f"STEP {step}")
            return False
        self.log(f"FAULT-INJECTED {kind} {step}")
        handler.close_connection = True
        if kind == "500":
            data = b"<html><body>500 Internal Server Error</body></html>"
            handler.send_response(500)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        elif kind == "malformed":
            data = (b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Header>"
                    b"<s:Body><unclosed attr='x></s:Envelope")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        elif kind == "truncated":
            data = (b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'>"
                    b"<s:Header></s:Header><s:Body>" + b"<p:x>filler</p:x>" * 200 +
                    b"</s:Body></s:Envelope>")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[:len(data) // 2])
            handler.wfile.flush()
        elif kind == "stall":
            time.sleep(self.stall)
        elif kind == "lost":
            _, out, _ = handler.server.app.handle(body)
            data = out.encode("utf-8")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[:len(data) // 2])
            handler.wfile.flush()
        return True
