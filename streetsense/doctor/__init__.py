"""`streetsense doctor`: check an edge box before and after deployment."""
