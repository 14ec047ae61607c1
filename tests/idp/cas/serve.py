"""Run the test CAS server: migrate its SQLite, seed the accounts, serve on one loopback port.

    python serve.py PORT DATA_DIR

Prints ``ready`` on a line of its own once it accepts connections.
"""

from __future__ import annotations

import os
import socketserver
import sys
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per request, on stderr like a web server's access log
        sys.stderr.write(f"cas {self.command} {self.path.split('?')[0]} -> {args[1] if len(args) > 1 else ''}\n")


def main() -> None:
    port, data_dir = int(sys.argv[1]), Path(sys.argv[2])
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["NPUHUB_TEST_CAS_DATA"] = str(data_dir)
    # settings.py beside this script: a script's own folder is first on sys.path
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"

    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from seed import seed

    seed()
    server = make_server("127.0.0.1", port, get_wsgi_application(),
                         server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
