"""One module per subcommand: parse → call the core → print."""
