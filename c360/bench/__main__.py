"""`python -m c360.bench`: one subcommand per benchmark, plus `all` (`c360.bench.cli`)."""

from c360.bench import commands_models, commands_pipeline, commands_serving  # noqa: F401 - they register
from c360.bench.cli import app

if __name__ == "__main__":
    app()
