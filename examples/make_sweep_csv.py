"""Write examples/sweep.csv: synthetic up/down pulse sweeps of the ECRAM preset (Tang et al., IEDM 2018,
as the reference simulator's EcRamPresetDevice) with cycle-to-cycle noise 0.3 dw_min per pulse, pulsed
by this toolkit's pulse-level device model. Three cycles of 600 up then 600 down pulses from w = -0.3.

    python examples/make_sweep_csv.py            # then: aimc-theory fit --data examples/sweep.csv
"""
from pathlib import Path

import numpy as np

from aimc_theory import device, presets


def main(path=Path(__file__).with_name("sweep.csv"), seed: int = 0, cycles: int = 3, pulses: int = 600) -> None:
    p = presets.get("ecram")
    dev = device.Device(p.response(), dw_min=p.dw_min, sigma_c=0.3)
    rng = np.random.default_rng(seed)
    w = np.array([-0.3])
    lines = ["# ECRAM preset (EcRamPresetDevice mean response), c2c noise 0.3 dw_min, seed 0",
             "cycle,direction,pulse,w"]
    for c in range(cycles):
        for direction, sign in (("up", 1.0), ("down", -1.0)):
            lines.append(f"{c},{direction},0,{w[0]:.8f}")
            for k in range(1, pulses + 1):
                w = dev.pulse(w, np.array([sign]), rng)
                lines.append(f"{c},{direction},{k},{w[0]:.8f}")
    Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
