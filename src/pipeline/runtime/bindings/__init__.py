"""One module per env binding, each an adapter to a port in ports.py: d1 (env.DB), r2
(env.IMAGES), queue (env.JOBS), ai (env.AI). Each holds only its binding's name and
looks the binding up in the current request on every use (scope.py says why)."""
