"""Entry point for the `pulumi` CLI (Pulumi.yaml's `main: stacks/`)."""

from redundo.stacks.program import main

main()
