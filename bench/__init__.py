"""
The benchmark suite of twisted-poetry: scenarios and reporting (L{bench.run}),
process and measurement plumbing (L{bench.harness}), the baseline servers
(L{bench.servers}) and client drivers (L{bench.clients}), and the C load
generator (C{loadgen.c}).  Run it with C{python -m bench [--quick]}.
"""
