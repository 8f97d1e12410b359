"""``python -m integrations.smile.sandbox [options]``: run the Smile sandbox without Django."""

import argparse

from .config import add_arguments, config_from_options
from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.smile.sandbox",
        description="Smile.io sandbox server (OAuth + REST + control API).",
    )
    add_arguments(parser)
    opts = vars(parser.parse_args(argv))
    try:
        cfg = config_from_options(opts)
    except ValueError as exc:
        parser.error(str(exc))
    serve(cfg)


if __name__ == "__main__":
    main()
