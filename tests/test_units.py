from hypothesis import given, strategies as st

from farmland.units import M2_TO_MU, m2_to_mu, mu_to_m2, round_half_up


def test_mu_is_exact():
    assert M2_TO_MU == 0.0015
    assert m2_to_mu(10000.0 / 15) == 1.0
    # 844.64万亩 = 5 630 933 333.3 m² (docs/background.md §7)
    assert round(mu_to_m2(8_446_400.0)) == 5_630_933_333


def test_round_half_up_not_bankers():
    assert round_half_up([0.125, 2.675, 0.005, -0.125, 2.5], 2).tolist() == [0.13, 2.68, 0.01, -0.13, 2.5]
    assert round_half_up([0.5, 1.5, 2.5], 0).tolist() == [1.0, 2.0, 3.0]


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_round_half_up_on_exact_halves(cents_times_ten):
    value = cents_times_ten / 1000  # three decimals, some ending in 5
    got = float(round_half_up(value, 2))
    assert abs(got - value) <= 0.005 + 1e-9
