"""The original preprocessor's front desk, for the RPC benchmark: Python's
DocXMLRPCServer with one function, front_desk(work_order), as TOROS Manager had it.

Usage: python_front_desk.py PORT
"""
import sys
from xmlrpc.server import DocXMLRPCServer


def front_desk(work_order):
    """Front Desk will receive your Work Order and perform the requested operations."""
    for k, v in work_order.items():
        print("{}:\t{}".format(k, v))
    if work_order.get("WOType") is None:
        return
    return "Work order received."


server = DocXMLRPCServer(("127.0.0.1", int(sys.argv[1])), logRequests=False, allow_none=True)
server.register_function(front_desk, "front_desk")
print("ready", flush=True)
server.serve_forever()
