"""One module per subcommand, each with ``register(subparsers)``.

The order ``vlmtop --help`` lists them in is ``vlmtop.cli.parser.COMMAND_MODULES``. A
command's heavy imports (the store, numpy, torch) happen inside the function it runs, so
building the parser stays fast.
"""
