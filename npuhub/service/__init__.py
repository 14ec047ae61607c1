"""The npuhub service: the admission core behind a REST API, as a JupyterHub service in its own process.

- ``app``: the process (configuration traits, web server, periodic metering and recovery);
- ``routes``: the API's handlers; ``models``: their JSON views; ``openapi``: the API's document;
- ``auth``: who calls and what they may do (JupyterHub scopes);
- ``engine``: the single writer (admission core + store, one transaction per change);
- ``enforcement``: warning and stopping sessions whose budget is spent;
- ``hubapi``: the service's own calls to the hub; ``metrics``: Prometheus; ``errors``: JSON errors.
"""
