"""Server/client selection probes: minimal throwaway relays measured by `python -m bench.probes.measure`."""
