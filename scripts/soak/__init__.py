"""A soak of pm-server: hundreds of simulated clients over several tenants for minutes,
sampling the server's memory, descriptors, tasks, connections and subscriptions, then a
verdict on leaks (`python -m scripts.soak --help`).

Modules: `target` (the server under test: started here, or `--url`), `probes` (its
/metrics gauges and /proc figures), `prometheus` (the text format), `world` (what the
clients know of each tenant), `commands` (the command mix), `link` (one WebSocket),
`clients` (a simulated client's life), `seed` (tenants before the run), `tally` (counts the
clients keep), `sampler` (one line per interval), `verdict` (pass or fail), `run` (all of
it in order).
"""
