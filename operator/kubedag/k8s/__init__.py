"""Everything that knows the shape of Kubernetes objects, and the only code that talks to
the API server (client.py)."""
