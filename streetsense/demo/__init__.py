"""`streetsense demo`: the whole pipeline on one box, on bundled media."""

from streetsense.demo.run import run_demo

__all__ = ["run_demo"]
