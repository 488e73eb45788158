"""Programs and base-process shares of the ``realistic`` simulator profile.

Every number here is tied to a row of the table "Profiles and where their rates
come from" in ``docs/simulator.md``: the table states the *target* (what the
population measures, e.g. the share of non-pregnant customers who buy a
pregnancy test in a year), its source, and how the published figure became the
target; :data:`TARGETS` holds the targets and
``tests/models/simulator/test_profiles.py`` measures them on a generated
population and compares them with the table, so code and table cannot drift.
The parameters below (prevalences, per-visit probabilities, base shares) are
what reaches those targets through the simulator's mechanics (heavy-tailed
visit rates, joining and churning customers, purchases made elsewhere); they
were fitted against the targets, which is why some look unround.

Differences from the ``hard`` profile (:data:`~basketguard.models.simulator.events.PROGRAMS`):

* the events keep their stages (what a planted customer buys) and get sourced
  prevalences;
* pregnancy has a second variant, the smoker who quits when pregnant (tobacco
  before week 4, none until the birth); pregnant customers of the ``smoker``
  confounder are the ones who keep smoking;
* the sensitive products are no longer bought at random by everyone: their
  base-process share (:data:`BASE_SHARES`) is small or zero and their
  background buyers are programs with a plausible "who" (women trying to
  conceive, households with a toddler, people with long-standing diabetes or
  incontinence, smokers who try nicotine replacement and relapse);
* customers visit about once a week.
"""

from __future__ import annotations

import dataclasses

from basketguard.models.simulator.events import OPEN, PROGRAMS, Program, Stage
from basketguard.models.simulator.rates import Target

_HARD = {p.key: p for p in PROGRAMS}

#: Mean visit rate parameter; it measures 1.0 visits a week while active (the cap of one
#: visit a day and seven a week trims the log-normal tail by about 4 %).
VISITS_PER_WEEK = 1.04

# Age multipliers (18-24, 25-34, 35-44, 45-54, 55-64, 65+).
# Pregnancy: ONS conceptions per 1,000 women by age, England and Wales 2016
# (under 20: 34.3, 20-24: 87.7, 25-29: 124.5, 30-34: 123.4, 35-39: 67.9, 40+: 15.4),
# averaged over the simulator's bands (18-19 taken as 55) and divided by 25-34's 124.
_FERTILE_AGE = (0.63, 1.0, 0.34, 0.008, 0.0, 0.0)
# Current smokers by age, ONS Adult smoking habits in the UK 2023 (18-24: 9.8 %,
# 25-34: 14.0 %, all adults 11.9 %); the older bands are an assumption, divided by 11.9.
_SMOKER_AGE = (0.82, 1.18, 1.13, 1.13, 1.05, 0.63)
_SMOKER_INCOME = (1.6, 1.2, 1.0, 0.7, 0.5)
# Diagnosed diabetes by age, NHANES 2017-2020 (18-44: 3.0 %, 45-64: 14.5 %, 65+: 24.4 %).
_DIABETES_AGE = (0.12, 0.12, 0.12, 0.6, 0.6, 1.0)

_pregnancy = _HARD["pregnancy"]
# Share of pregnancies of the smoker who quits, fitted so that 54 % of the pregnant
# customers who bought tobacco before week 4 buy none from week 8 on (IFS 2010: 54 % of
# mothers who smoked gave up); the ones who keep smoking are the smoker confounder's
# pregnant customers, drawn at the smoking prevalence.
_QUIT_SHARE = 0.28

PROGRAMS_REALISTIC = (
    dataclasses.replace(_pregnancy, rate=0.0800 * (1 - _QUIT_SHARE), age=_FERTILE_AGE,
                        children=(1.0, 1.0)),
    dataclasses.replace(
        _pregnancy, variant="smoker", rate=0.0800 * _QUIT_SHARE, age=_FERTILE_AGE,
        children=(1.0, 1.0), income=_SMOKER_INCOME, exclusive_with="pregnancy",
        description="A smoker's pregnancy: tobacco until week 4, none from then to the birth; "
                    "otherwise as pregnancy.",
        stages=_pregnancy.stages + (
            Stage("tobacco", -400, 28, 0.5),
            Stage("tobacco", 28, 280, suppress=True),
        )),
    dataclasses.replace(_HARD["new_baby"], rate=0.040, gender=(0.1, 1.0, 0.5),
                        age=(0.63, 1.0, 0.45, 0.08, 0.0, 0.0)),
    dataclasses.replace(_HARD["diabetes_onset"], rate=0.0087),
    dataclasses.replace(_HARD["smoking_cessation"], rate=0.0080, age=_SMOKER_AGE,
                        income=_SMOKER_INCOME),
    dataclasses.replace(_HARD["incontinence"], rate=0.0084),
    dataclasses.replace(_HARD["kosher_diet"], rate=0.0027),
    dataclasses.replace(_HARD["halal_diet"], rate=0.064),
    dataclasses.replace(_HARD["alcohol_dependence"], rate=0.0172, rate_kind="prevalence"),
    dataclasses.replace(_HARD["financial_distress"], rate=0.069),
    # ------------------------------------------------------------- confounders
    dataclasses.replace(_HARD["winter_skin"], rate=0.04),
    dataclasses.replace(_HARD["crafter"], rate=0.02),
    dataclasses.replace(_HARD["grandparent"], rate=0.02),
    dataclasses.replace(_HARD["supplement_user"], rate=0.075),
    dataclasses.replace(_HARD["flu_season"], rate=0.06),
    dataclasses.replace(_HARD["smoker"], rate=0.091, age=_SMOKER_AGE, income=_SMOKER_INCOME),
    _HARD["dieter"],
    dataclasses.replace(_HARD["social_drinker"], rate=0.06),
    _HARD["bargain_hunter"],
    dataclasses.replace(_HARD["caregiver"], rate=0.012),
    # ------------------------------------- background buyers of sensitive products
    Program(
        "trying_to_conceive", "confounder", 0.05, "annual", -180, 0, True,
        description="A woman trying to conceive who is not pregnant in the data: prenatal "
                    "vitamins and a pregnancy test about every four weeks for six months.",
        stages=(Stage("prenatal_vitamins", 0, 180, 0.10),
                Stage("pregnancy_test", 21, 28, 0.3, period=28)),
        age=_FERTILE_AGE, gender=(1, 0, 0.5), exclusive_with="pregnancy"),
    Program(
        "pregnancy_scare", "confounder", 0.046, "annual", 0, 0, True,
        description="A one-off pregnancy test (a late period, a partner's).",
        stages=(Stage("pregnancy_test", 0, 10, 0.6),),
        age=(1.0, 1.0, 0.6, 0.1, 0, 0), gender=(1, 0.25, 0.6), exclusive_with="pregnancy"),
    Program(
        "young_family", "confounder", 0.25, "prevalence", -540, -180, False,
        description="A household whose youngest child is six months to two years old "
                    "(born before the simulated period): nappies, wipes, baby food, some "
                    "formula, nappy sacks and bottles.",
        stages=(Stage("diapers", 0, 900, 0.39, qty=1.5),
                Stage("baby_wipes", 0, 900, 0.3),
                Stage("baby_food", 0, 900, 0.18),
                Stage("infant_formula", 0, 900, 0.022),
                Stage("nappy_sacks", 0, 900, 0.010),
                Stage("baby_bottles", 0, 900, 0.0042)),
        age=(0.7, 1.0, 0.7, 0.1, 0, 0), gender=(1, 0.8, 1), children=(0, 1),
        exclusive_with="new_baby"),
    Program(
        "diabetic", "confounder", 0.055, "prevalence", -1095, 0, False,
        description="Long-standing diabetes, self-monitoring: test strips and lancets, a new "
                    "meter every three years, sugar-free lines instead of sugary ones.",
        stages=(Stage("test_strips", 0, OPEN, 0.08),
                Stage("glucose_meter", 0, 14, 0.65, period=1095),
                Stage("sugar_free", 0, OPEN, 0.3),
                Stage("sugary", 0, OPEN, suppress=True)),
        age=_DIABETES_AGE, gender=(0.9, 1.1, 1), income=(1.3, 1.1, 1.0, 0.9, 0.8),
        exclusive_with="diabetes_onset"),
    Program(
        "quit_attempt", "confounder", 0.0117, "annual", 0, 0, True,
        description="A smoker who tries nicotine replacement for a few weeks and relapses.",
        stages=(Stage("tobacco", -400, OPEN, 0.5),
                Stage("nicotine_replacement", 0, 28, 0.45)),
        age=_SMOKER_AGE, income=_SMOKER_INCOME, exclusive_with="smoker"),
    Program(
        "incontinence_longstanding", "confounder", 0.05, "prevalence", -3650, -365, False,
        description="Incontinence that began before the simulated period: incontinence "
                    "products all year.",
        stages=(Stage("incontinence", 0, OPEN, 0.35),),
        age=_HARD["incontinence"].age, gender=_HARD["incontinence"].gender,
        exclusive_with="incontinence"),
    Program(
        "brand_loyalist", "confounder", 0.055, "prevalence", -3650, -365, False,
        description="Never buys the private label.",
        stages=(Stage("value_lines", 0, OPEN, suppress=True),)),
)

#: Groups whose stage purchases pick items by base weight (see ``Profile.pick_by_base``).
PICK_BY_BASE = ("value_lines", "wine")

#: Share of base lines (before private-label substitution) taken by each class of
#: items, in precedence order: an item belongs to the first listed group that holds
#: it. Sensitive products outside this list keep their catalog popularity; those
#: listed with 0 are bought only through programs.
BASE_SHARES: tuple[tuple[str, float], ...] = (
    ("pregnancy_test", 0.0),
    ("prenatal_vitamins", 0.0),
    ("minerals", 0.0),
    ("lotion_unscented_large", 0.00016),
    ("lotion_cocoa_butter", 0.0001),
    ("soap_scent_free", 0.00037),
    ("cotton_balls_large", 0.00011),
    ("hand_sanitizer", 0.00066),
    ("washcloths", 0.0001),
    ("nappy_sacks", 0.0),
    ("diapers", 0.0),
    ("baby_wipes", 0.00022),
    ("infant_formula", 0.0),
    ("baby_food", 0.0),
    ("baby_bottles", 0.0),
    ("glucose_meter", 0.0),
    ("test_strips", 0.0),
    ("nicotine_replacement", 0.0),
    ("tobacco", 0.0),
    ("incontinence", 0.0),
    ("contraceptives", 0.000024),
    ("condoms", 0.000175),
    ("kosher", 0.0001),
    ("halal", 0.00028),
    ("spirits", 0.00092),
    ("beer", 0.00175),
    ("wine", 0.0022),
    ("sugar_free", 0.0045),
)

#: What a realistic population measures (see the module docstring and the table in
#: docs/simulator.md); ``name`` is the row's key there.
TARGETS: tuple[Target, ...] = (
    Target("visits_per_week", "visits", 1.0),
    # event prevalences
    Target("pregnancy", "prevalence", 0.056, subject="pregnancy", who="women_18_44",
           when="event_date"),
    Target("new_baby", "prevalence", 0.028, subject="new_baby", who="men_18_44",
           when="onset"),
    Target("diabetes_onset", "prevalence", 0.0059, subject="diabetes_onset", when="onset"),
    Target("smoking_cessation", "prevalence", 0.0088, subject="smoking_cessation",
           when="onset"),
    Target("incontinence", "prevalence", 0.0033, subject="incontinence", when="onset"),
    Target("kosher_diet", "prevalence", 0.0025, subject="kosher_diet"),
    Target("halal_diet", "prevalence", 0.058, subject="halal_diet"),
    Target("alcohol_dependence", "prevalence", 0.0139, subject="alcohol_dependence"),
    Target("financial_distress", "prevalence", 0.075, subject="financial_distress",
           when="onset"),
    # background: customers without the group's events who buy the group in the year
    Target("bg_pregnancy_test", "background", 0.010, subject="pregnancy_test"),
    Target("bg_prenatal_vitamins", "background", 0.005, subject="prenatal_vitamins"),
    Target("bg_minerals", "background", 0.06, subject="minerals"),
    Target("bg_lotion_unscented_large", "background", 0.06, subject="lotion_unscented_large"),
    Target("bg_lotion_cocoa_butter", "background", 0.03, subject="lotion_cocoa_butter"),
    Target("bg_soap_scent_free", "background", 0.10, subject="soap_scent_free"),
    Target("bg_cotton_balls_large", "background", 0.05, subject="cotton_balls_large"),
    Target("bg_hand_sanitizer", "background", 0.20, subject="hand_sanitizer"),
    Target("bg_washcloths", "background", 0.06, subject="washcloths"),
    Target("bg_nappy_sacks", "background", 0.01, subject="nappy_sacks"),
    Target("bg_diapers", "background", 0.045, subject="diapers"),
    Target("bg_baby_wipes", "background", 0.10, subject="baby_wipes"),
    Target("bg_infant_formula", "background", 0.015, subject="infant_formula"),
    Target("bg_baby_food", "background", 0.035, subject="baby_food"),
    Target("bg_baby_bottles", "background", 0.005, subject="baby_bottles"),
    Target("bg_glucose_meter", "background", 0.004, subject="glucose_meter"),
    Target("bg_test_strips", "background", 0.02, subject="test_strips"),
    Target("bg_sugar_free", "background", 0.60, subject="sugar_free"),
    Target("bg_tobacco", "background", 0.10, subject="tobacco"),
    Target("bg_nicotine_replacement", "background", 0.005, subject="nicotine_replacement"),
    Target("bg_incontinence", "background", 0.025, subject="incontinence"),
    Target("bg_kosher", "background", 0.03, subject="kosher"),
    Target("bg_halal", "background", 0.08, subject="halal"),
    Target("bg_beer", "background", 0.35, subject="beer"),
    Target("bg_wine", "background", 0.40, subject="wine"),
    Target("bg_spirits", "background", 0.20, subject="spirits"),
    Target("bg_alcohol", "background", 0.57, subject="alcohol"),
    Target("bg_value_lines", "background", 0.96, subject="value_lines"),
    Target("bg_condoms", "background", 0.05, subject="condoms"),
    Target("bg_contraceptives", "background", 0.008, subject="contraceptives"),
    # pregnancy behaviour
    Target("pregnancy_alcohol", "pregnancy_alcohol", 0.19),
    Target("pregnancy_tobacco_quit", "pregnancy_tobacco", 0.54),
)
