"""iotcli: a command-line tool and local emulator for HTTP-ingestion IoT platforms."""

__version__ = "0.1.0"
