"""Plugin loading (one manager per app) and the registry of what plugins register."""
