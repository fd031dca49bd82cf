"""`streetsense doctor`: check an edge box before and after deployment."""

from streetsense.doctor.run import collect, run_doctor

__all__ = ["collect", "run_doctor"]
