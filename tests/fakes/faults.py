"""The fault plan the tests inject (it lives in src/pipeline/fault_plan.py, where the
host's test hook in workerd uses the same plan: runtime/fault_hook.py)."""

from pipeline.fault_plan import (KINDS, PORTS, Fault, FaultPlan, FaultyHttp, InjectedFault, faulty,
                                 wrap_ports)

__all__ = ["KINDS", "PORTS", "Fault", "FaultPlan", "FaultyHttp", "InjectedFault", "faulty", "wrap_ports"]
