"""One module per workload. Each run function starts its processes, drives the load and
returns a Side (one figure's value on one side: the server or a baseline) per figure."""
