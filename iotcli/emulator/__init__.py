"""The local emulator of both HTTP-ingestion surfaces. Entry point: ``create_app(settings)``."""
