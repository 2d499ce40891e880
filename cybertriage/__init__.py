"""cybertriage: forensic triage of seized disk images and packet captures."""

__version__ = "0.1.0"
