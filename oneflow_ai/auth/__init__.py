"""Who is calling: the master key now; users, JWTs and virtual keys build on the same `Principal`."""
