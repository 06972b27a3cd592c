"""``python -m foley_server --port P``: the local server (werkzeug, threaded).

Prints ``listening on http://127.0.0.1:P`` once the socket is bound, so a test
or the local stack can start it on port 0 and read the real port back.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from werkzeug.serving import make_server

from foley_server.app import create_app
from foley_server.config import ServerConfig


def main(argv: list[str] | None = None) -> int:
    try:
        config = ServerConfig.from_env()
    except ValueError as err:
        print(f"foley_server: configuration refused: {err}", file=sys.stderr, flush=True)
        return 2
    parser = argparse.ArgumentParser(prog="foley_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=config.port, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    server = make_server(args.host, args.port, create_app(config), threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
