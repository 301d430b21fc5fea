"""Write examples/sweep.csv: synthetic up/down pulse sweeps of the ECRAM preset (Tang et al., IEDM 2018,
as the reference simulator's EcRamPresetDevice) with cycle-to-cycle noise 0.3 dw_min per pulse, pulsed
by this toolkit's pulse-level device model. Three cycles of 600 up then 600 down pulses from w = -0.3.

    python examples/make_sweep_csv.py            # then: aimc-theory fit --data examples/sweep.csv
"""
from pathlib import Path

from aimc_theory import fit, presets


def main(path=Path(__file__).with_name("sweep.csv"), seed: int = 0) -> None:
    p = presets.get("ecram")
    text = fit.synthetic_sweeps(p.response(), p.dw_min, sigma_c=0.3, cycles=3, pulses=600, w0=-0.3, seed=seed)
    Path(path).write_text("# ECRAM preset (EcRamPresetDevice mean response), c2c noise 0.3 dw_min, seed 0\n" + text)


if __name__ == "__main__":
    main()
