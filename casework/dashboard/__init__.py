"""The DPO's dashboard (/dashboard/): figures, charts, a CSV of every figure and the yearly
report for the regulator, inside the admin site (its sign-in and second factor). It reads only
from `casework.selectors.dashboard`."""
