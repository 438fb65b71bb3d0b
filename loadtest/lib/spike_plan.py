"""Writes the request plan of an open spike, one request a line, for spike.lua.

    python3 spike_plan.py SIGNED_CSV FLASH_SALE_PATH OUT [SEED]

SIGNED_CSV is `opentime sign --csv` output (columns `id`, `template`, `opener`
and `ot_token`); FLASH_SALE_PATH the signed URL of the campaign's countdown, the
same for every recipient. Each output line is `PATH<TAB>USER_AGENT`.

What the plan replays, per recipient (the template and the opener come from
the CSV, drawn when the profiles were written):

- one first open, of the recipient's template, at a random place in the
  plan: opens arrive in no order, as they do after a send;
- a re-open (REOPEN_PERCENT of recipients), later, by the same opener;
- a click on the loyalty card (CLICK_PERCENT of its recipients who are
  people), soon after the open, from a browser;
- a vote in the care survey (VOTE_PERCENT of its recipients who are
  people), soon after the open, followed by an open that shows the rated
  variant.

Apple's proxy fetches on delivery and again at each open, Gmail's when a
person opens; people on other clients fetch straight from their client.
"""

import csv
import os
import random
import sys

USER_AGENTS = {
    # Apple Mail Privacy Protection: exactly this, nothing more.
    "apple": ["Mozilla/5.0"],
    "gmail": ["Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"],
    "client": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17628; Pro)",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
    ],
}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

IMAGE_PATHS = {
    "loyalty": "/i/loyalty.png?t={t}",
    "care-survey": "/i/care-survey.png?t={t}",
}


def percent(name, default):
    value = int(os.environ.get(name, default))
    if not 0 <= value <= 100:
        sys.exit(f"{name} must be between 0 and 100, got {value}")
    return value / 100


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    signed_csv, flash_path, out = sys.argv[1:4]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) == 5 else 1)
    reopen = percent("REOPEN_PERCENT", 30)
    click = percent("CLICK_PERCENT", 8)
    vote = percent("VOTE_PERCENT", 25)

    with open(signed_csv, newline="") as file:
        recipients = list(csv.DictReader(file))
    if not recipients:
        sys.exit(f"no recipients in {signed_csv}")
    count = len(recipients)

    # (place in the plan, path, user agent); sorted by place at the end.
    plan = []
    for recipient in recipients:
        template, opener, token = recipient["template"], recipient["opener"], recipient["ot_token"]
        agent = rng.choice(USER_AGENTS[opener])
        if template == "flash-sale":
            path = flash_path
        else:
            path = IMAGE_PATHS[template].format(t=token)
        opened = rng.uniform(0, count)
        plan.append((opened, path, agent))
        if rng.random() < reopen:
            plan.append((opened + rng.expovariate(10 / count), path, agent))
        person = opener != "apple"
        soon = opened + rng.uniform(1, 50)
        if template == "loyalty" and person and rng.random() < click:
            plan.append((soon, f"/c/loyalty?t={token}", BROWSER))
        if template == "care-survey" and person and rng.random() < vote:
            option = rng.choice("54321")
            plan.append((soon, f"/v/care-rating/{option}?t={token}", BROWSER))
            plan.append((soon + rng.uniform(1, 50), path, agent))
    plan.sort(key=lambda entry: entry[0])

    with open(out, "w") as file:
        for _, path, agent in plan:
            file.write(f"{path}\t{agent}\n")
    print(len(plan))


if __name__ == "__main__":
    main()
