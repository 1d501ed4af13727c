"""CDISCPILOT01: values worked out BY HAND from the SDTM records and sap.md.

No computation here: every value was read off the printed SDTM records (pyreadstat) and worked
out with the rule quoted in the comment; decimal numbers are written out (a calculator did the
arithmetic shown in the comment). tests/qc/test_pilot_qc.py checks that the QC module
(tests/qc/pilot_qc.py) reproduces every value; production is checked against both later.

Conventions: dates are ``datetime.date``, text missing is "", a missing number is ``None``
(compared as NaN). Each ADLB/ADVS record is named by its full key (sap.md section 6).

Subjects:
- 01-701-1015: placebo, completer (DS COMPLETED); lab and vital-sign examples.
- 01-701-1023: placebo, discontinued for an adverse event; has a final retrieval visit; AGE 64.
- 01-710-1083: placebo, died (DTHDTC 2013-08-02, fatal AE MYOCARDIAL INFARCTION).
- 01-701-1057: screen failure (no EX, no LB, no AE).
- 01-716-1418: high dose; four AEs with a partial start date (AESTDTC 2013-07).
- 01-701-1118: AE with a year-only start date (AESTDTC 2003), before treatment.
- 01-701-1239: lab baseline on an UNSCHEDULED 1.1 visit; AEs with AESTDTC 2014-03 / 2014-04.
"""

import datetime as dt

D = dt.date

# ------------------------------------------------------------------------------------------
# ADSL (section 1)
#
# 01-701-1015. EX: 3 records, EXTRT PLACEBO, EXDOSE 0 -> all dosing records (0.4):
#   2014-01-02..2014-01-16, 2014-01-17..2014-06-18, 2014-06-19..2014-07-02 (no times).
#   TRTSDT = earliest EXSTDTC = 2014-01-02; TRTEDT = latest EXENDTC = 2014-07-02.
#   TRTDURD = (2014-07-02 - 2014-01-02) + 1 = 181 + 1 = 182 (EXENDY 182 agrees).
#   DS: DISPOSITION EVENT DSDECOD COMPLETED, DSSTDTC 2014-07-02 -> EOSSTT COMPLETED, EOSDT.
#   No FATAL AE, no DS DEATH -> DTHCAUS/DTHDOM missing; DTHDTC blank -> DTHDT missing.
#   LSTALVDT: AE dates 2014-01-03, 2014-01-03, 2014-01-09, 2014-01-11; last LBDTC
#   2014-07-02T11:45; TRTEDT 2014-07-02 -> 2014-07-02. AGE 63 -> "18-64".
# 01-701-1023. EX: 2 PLACEBO records 2012-08-05..2012-08-27, 2012-08-28..2012-09-01.
#   TRTSDT 2012-08-05, TRTEDT 2012-09-01, TRTDURD = 27 + 1 = 28.
#   DS DISPOSITION EVENT DSDECOD ADVERSE EVENT (2012-09-02) -> DISCONTINUED, EOSDT 2012-09-02.
#   DS OTHER EVENT FINAL RETRIEVAL VISIT 2013-02-18 -> FRVDT (a DS date: not in LSTALVDT).
#   LSTALVDT: AE dates <= 2012-08-30, LB last 2012-09-02T10:15, TRTEDT 2012-09-01 -> 2012-09-02.
#   AGE 64 -> "18-64" (18 <= AGE <= 64, the upper edge).
# 01-710-1083. EX: one PLACEBO record 2013-07-22..2013-08-01 -> TRTSDT 2013-07-22,
#   TRTEDT 2013-08-01, TRTDURD 10 + 1 = 11.
#   DS DISPOSITION EVENT DEATH, DSSTDTC 2013-08-02 (DSDTC 2013-08-03 is not used) -> EOSDT
#   2013-08-02, EOSSTT DISCONTINUED (a non-missing DSDECOD other than COMPLETED/SCREEN FAILURE).
#   DTHDTC 2013-08-02 complete -> DTHDT 2013-08-02, DTHDTF missing.
#   DTHADY = (2013-08-02 - 2013-07-22) + 1 = 12; LDDTHELD = 2013-08-02 - 2013-08-01 = 1
#   -> LDDTHGR1 "<= 30", DTH30FL Y, DTHA30FL missing; DTHB30FL: 2013-08-02 <= 2013-07-22 + 30
#   = 2013-08-21 -> Y.
#   AE AESEQ 1 AEOUT FATAL, AEDECOD MYOCARDIAL INFARCTION -> DTHCAUS, DTHDOM "AE",
#   DTHCGR1 "ADVERSE EVENT" (DS DSTERM is just "DEATH", no "DEATH DUE TO").
#   LSTALVDT: AE 2013-08-02 (start and end), LB only 2013-07-09, TRTEDT 2013-08-01 -> 2013-08-02.
#   AGE 89 -> ">64".
# 01-701-1057. Screen failure: no EX -> TRTSDT/TRTEDT/TRTDURD missing, SAFFL N.
#   DS DISPOSITION EVENT SCREEN FAILURE 2013-12-20 -> SCRFDT 2013-12-20, EOSSTT missing,
#   EOSDT missing (its only disposition event is the screen failure). No AE, no LB, no
#   TRTEDT -> LSTALVDT missing. ARM "Screen Failure" -> TRT01P. AGE 59 -> "18-64".
# 01-716-1418. EX: 54 mg 2013-05-05..2013-05-19, 81 mg 2013-05-20..2013-11-06, 54 mg
#   2013-11-07..2013-11-20 (all EXDOSE > 0). TRTSDT 2013-05-05, TRTEDT 2013-11-20,
#   TRTDURD = 199 + 1 = 200. DS COMPLETED 2013-11-20. LSTALVDT: AE max 2013-11-11, LB max
#   2013-11-20T11:44, TRTEDT 2013-11-20 -> 2013-11-20. AGE 80 -> ">64".

ADSL = {
    "01-701-1015": {
        "TRTSDT": D(2014, 1, 2), "TRTSDTM": dt.datetime(2014, 1, 2, 0, 0, 0), "TRTSTMF": "H",
        "TRTEDT": D(2014, 7, 2), "TRTEDTM": dt.datetime(2014, 7, 2, 23, 59, 59), "TRTETMF": "H",
        "TRTDURD": 182, "SAFFL": "Y", "EOSSTT": "COMPLETED", "EOSDT": D(2014, 7, 2),
        "RANDDT": D(2014, 1, 2), "FRVDT": None, "SCRFDT": None,
        "DTHDT": None, "DTHCAUS": "", "DTHDOM": "", "DTHCGR1": "", "LDDTHGR1": "",
        "LSTALVDT": D(2014, 7, 2), "AGEGR1": "18-64", "TRT01P": "Placebo", "TRT01A": "Placebo",
        "RACEGR1": "White", "REGION1": "NA",
    },
    "01-701-1023": {
        "TRTSDT": D(2012, 8, 5), "TRTEDT": D(2012, 9, 1), "TRTDURD": 28, "SAFFL": "Y",
        "EOSSTT": "DISCONTINUED", "EOSDT": D(2012, 9, 2), "FRVDT": D(2013, 2, 18),
        "DTHDT": None, "DTHCAUS": "", "DTHDOM": "", "LSTALVDT": D(2012, 9, 2), "AGEGR1": "18-64",
    },
    "01-710-1083": {
        "TRTSDT": D(2013, 7, 22), "TRTEDT": D(2013, 8, 1), "TRTDURD": 11, "SAFFL": "Y",
        "EOSSTT": "DISCONTINUED", "EOSDT": D(2013, 8, 2), "DTHDT": D(2013, 8, 2), "DTHDTF": "",
        "DTHADY": 12, "LDDTHELD": 1, "DTHCAUS": "MYOCARDIAL INFARCTION", "DTHDOM": "AE",
        "DTHCGR1": "ADVERSE EVENT", "LDDTHGR1": "<= 30", "DTH30FL": "Y", "DTHA30FL": "",
        "DTHB30FL": "Y", "LSTALVDT": D(2013, 8, 2), "AGEGR1": ">64",
    },
    "01-701-1057": {
        "TRTSDT": None, "TRTEDT": None, "TRTDURD": None, "TRTSTMF": "", "SAFFL": "N",
        "SCRFDT": D(2013, 12, 20), "EOSSTT": "", "EOSDT": None, "DTHDT": None, "DTHCAUS": "",
        "DTHDOM": "", "LSTALVDT": None, "AGEGR1": "18-64", "TRT01P": "Screen Failure",
    },
    "01-716-1418": {
        "TRTSDT": D(2013, 5, 5), "TRTEDT": D(2013, 11, 20), "TRTDURD": 200, "SAFFL": "Y",
        "EOSSTT": "COMPLETED", "EOSDT": D(2013, 11, 20), "LSTALVDT": D(2013, 11, 20),
        "AGEGR1": ">64",
    },
}

# ------------------------------------------------------------------------------------------
# ADAE (section 2), keyed by (USUBJID, AESEQ)
#
# 01-701-1015 (TRTSDT 2014-01-02, TRTEDT 2014-07-02):
#   AESEQ 1 MILD 2014-01-03 / no end; AESEQ 2 MILD 2014-01-03 / no end; AESEQ 3 MILD
#   2014-01-09..2014-01-11. All start on/after TRTSDT and before TRTEDT + 30 -> TRTEMFL Y.
#   ASTDY(1) = 1 + 1 = 2; AESEQ 3: ASTDY 8, AENDY 10, ADURN 2 + 1 = 3.
#   AOCCIFL: all ASEVN 1; first by ASEVN desc, ASTDTM, AESEQ -> AESEQ 1 (ties AESEQ 2 on date).
# 01-701-1023 (TRTSDT 2012-08-05): AESEQ 1 MILD 2012-08-07..2012-08-30 (ADURN 23 + 1 = 24),
#   AESEQ 2 MODERATE 2012-08-07, AESEQ 3 MILD 2012-08-26, AESEQ 4 MILD 2012-08-07..08-30.
#   All TRTEMFL Y; the only MODERATE (ASEVN 2) is AESEQ 2 -> AOCCIFL Y there only.
# 01-716-1418 (TRTSDT 2013-05-05, TRTEDT 2013-11-20): AESEQ 5 HEADACHE MODERATE AESTDTC
#   "2013-07" (partial), AEENDTC 2013-09-26. TRTSDT is not in July 2013 -> ASTDT = first =
#   2013-07-01, ASTDTF "D". ASTDY = (2013-07-01 - 2013-05-05) + 1 = 57 + 1 = 58;
#   AENDY = 144 + 1 = 145; ADURN = (2013-09-26 - 2013-07-01) + 1 = 87 + 1 = 88. TRTEMFL Y.
#   AOCCIFL: highest ASEVN among TRTEMFL records = 2 on AESEQ 5, 6, 7, 8 (all ASTDTM
#   2013-07-01) -> lowest AESEQ 5 gets Y; AESEQ 6 ("2013-07" .. 2013-10-04, ADURN 95 + 1 = 96)
#   does not.
# 01-701-1118 (TRTSDT 2014-03-12): AESEQ 1 COUGH AESTDTC "2003", no end. TRTSDT not in 2003
#   -> ASTDT 2003-01-01, ASTDTF "M". ASTDY = 2003-01-01 - 2014-03-12 = -4088 (before: no + 1).
#   TRTEMFL: AENDT missing (not < TRTSDT), ASTDT present and before TRTSDT -> missing.
#   AOCCIFL missing (not emergent).
# 01-701-1239 (TRTSDT 2014-01-11, TRTEDT 2014-07-10): AESEQ 9 AESTDTC "2014-03" -> 2014-03-01
#   "D" (TRTSDT is in January), AESEQ 10 "2014-04" -> 2014-04-01 "D"; both TRTEMFL Y.
# 01-710-1083 (TRTSDT 2013-07-22, TRTEDT 2013-08-01): AESEQ 1 MYOCARDIAL INFARCTION SEVERE
#   2013-08-02..2013-08-02 -> ADURN 1, ASTDY 12, ASEVN 3, TRTEMFL Y (<= TRTEDT + 30), AOCCIFL Y.

ADAE = {
    ("01-701-1015", 1): {"ASTDT": D(2014, 1, 3), "ASTDTF": "", "AENDT": None, "ADURN": None,
                         "ADURU": "", "ASTDY": 2, "TRTEMFL": "Y", "AOCCIFL": "Y", "ASEVN": 1,
                         "ASTDTM": dt.datetime(2014, 1, 3, 0, 0, 0), "ASTTMF": "H"},
    ("01-701-1015", 2): {"ASTDT": D(2014, 1, 3), "TRTEMFL": "Y", "AOCCIFL": ""},
    ("01-701-1015", 3): {"ASTDT": D(2014, 1, 9), "AENDT": D(2014, 1, 11), "ADURN": 3,
                         "ADURU": "days", "ASTDY": 8, "AENDY": 10, "TRTEMFL": "Y", "AOCCIFL": "",
                         "AENDTM": dt.datetime(2014, 1, 11, 23, 59, 59), "AENTMF": "H"},
    ("01-701-1023", 1): {"ADURN": 24, "TRTEMFL": "Y", "AOCCIFL": ""},
    ("01-701-1023", 2): {"ASEVN": 2, "TRTEMFL": "Y", "AOCCIFL": "Y", "ADURN": None},
    ("01-716-1418", 5): {"ASTDT": D(2013, 7, 1), "ASTDTF": "D", "AENDT": D(2013, 9, 26),
                         "AENDTF": "", "ASTDY": 58, "AENDY": 145, "ADURN": 88,
                         "TRTEMFL": "Y", "AOCCIFL": "Y", "ASEVN": 2},
    ("01-716-1418", 6): {"ASTDT": D(2013, 7, 1), "ASTDTF": "D", "AENDT": D(2013, 10, 4),
                         "ADURN": 96, "TRTEMFL": "Y", "AOCCIFL": ""},
    ("01-701-1118", 1): {"ASTDT": D(2003, 1, 1), "ASTDTF": "M", "AENDT": None, "ADURN": None,
                         "ASTDY": -4088, "TRTEMFL": "", "AOCCIFL": ""},
    ("01-701-1239", 9): {"ASTDT": D(2014, 3, 1), "ASTDTF": "D", "TRTEMFL": "Y"},
    ("01-701-1239", 10): {"ASTDT": D(2014, 4, 1), "ASTDTF": "D", "TRTEMFL": "Y"},
    ("01-710-1083", 1): {"ASTDT": D(2013, 8, 2), "AENDT": D(2013, 8, 2), "ADURN": 1, "ASTDY": 12,
                         "ASEVN": 3, "TRTEMFL": "Y", "AOCCIFL": "Y", "DTHDT": D(2013, 8, 2)},
}

# ------------------------------------------------------------------------------------------
# ADLB (section 3). Key: USUBJID, PARAMCD, ADT, AVISIT, DTYPE.
#
# 01-701-1015 ALT (TRTSDT 2014-01-02, TRTEDT 2014-07-02), LB records (LBSEQ, VISIT, date,
# value; ANRLO 6, ANRHI 34 throughout):
#   3 SCREENING 1 2013-12-26 27 | 41 WEEK 2 2014-01-16 41 | 76 WEEK 4 01-30 18 | 106 WEEK 6 02-12 26
#   136 WEEK 8 03-05 22 | 166 WEEK 12 03-26 27 | 201 WEEK 16 05-07 17 | 231 WEEK 20 05-21 21
#   261 WEEK 24 06-18 23 | 296 WEEK 26 07-02 23
# - Baseline: only the screening record has ADT <= TRTSDT -> ABLFL Y on LBSEQ 3, BASE 27.
#   Its AVISIT is "Baseline" (VISIT contains SCREEN), AVISITN 0 -> CHG missing. ADY -7.
# - Week 2: AVISITN = VISITNUM = 4; ADY 15; ONTRTFL Y (TRTSDT < ADT <= TRTEDT);
#   41 > ANRHI 34 -> HIGH; BNRIND NORMAL -> SHIFT1 "NORMAL to HIGH".
#   ATOXGRH: 41 > 20x34=680? no; > 5x34=170? no; > 3x34=102? no; > 34 -> "1". No low term
#   for ALT -> ATOXGRL missing, ATOXGR "1". Baseline 27 <= 34 -> "0" -> BTOXGR "0",
#   SHIFT2 "0 to 1". CHG 14, PCHG 100 x 14 / 27 = 51.851851851851855,
#   R2BASE 41/27 = 1.5185185185185186, R2ANRHI 41/34 = 1.2058823529411764.
# - ANL01FL: one record per on-treatment visit -> Y on every Week record; not on screening.
# - LVOTFL: last on-treatment by ADT -> Week 26 (LBSEQ 296).
# - MINIMUM: smallest on-treatment AVAL = 17 (Week 16, LBSEQ 201, 2014-05-07), CHG -10.
#   MAXIMUM: 41 (Week 2, LBSEQ 41). LOV: last by ADT = Week 26 (LBSEQ 296), AVAL 23, CHG -4.
#
# 01-701-1015 CREAT (ANRLO 62, ANRHI 124): 14 SCREENING 1 2013-12-26 79.56 | 51 WEEK 2 01-16 88.4
#   85 WEEK 4 01-30 70.72 | 115 WEEK 6 88.4 | 145 WEEK 8 88.4 | 176 WEEK 12 03-26 79.56
#   210 WEEK 16 88.4 | 240 WEEK 20 79.56 | 271 WEEK 24 79.56 | 305 WEEK 26 07-02 88.4
# - Baseline screening 79.56 (LBSEQ 14). Its own grade: no check > ULN or > BASE holds
#   (79.56 > 79.56 is false); ULN and BASE present, AVAL <= both -> "0".
# - Week 2, 88.4: > 6x124? > 3x124? > 3x79.56=238.68? > 1.5x124=186? > 1.5x79.56=119.34?
#   > 124? all no; > BASE 79.56 -> "1". ANRIND NORMAL (62 <= 88.4 <= 124) -> SHIFT1
#   "NORMAL to NORMAL" but SHIFT2 "0 to 1". CHG 88.4 - 79.56 = 8.84.
# - Week 4, 70.72 <= 124 and <= 79.56 -> "0". Week 12, 79.56 = BASE -> "0".
# - MAXIMUM: 88.4 on Weeks 2, 6, 8, 16, 26 -> tie broken by earliest ADT -> Week 2 (LBSEQ 51).
#   MINIMUM: 70.72 (Week 4, LBSEQ 85). LOV: Week 26 (LBSEQ 305), 88.4, ATOXGRH "1".
#
# 01-701-1015 CALCULATION (3.3). WBC 5.78 (LBSEQ 38) and BASOLE 0.40 (LBSEQ 6) and LYMLE 0.05
# (LBSEQ 22) at SCREENING 1 2013-12-26, no BASO and no LYM record there -> two records:
#   BASO = 5.78 x 0.40 = 2.312; LYMPH = 5.78 x 0.05 = 0.289. At WEEK 2 2014-01-16: WBC 5.33,
#   BASOLE 0.15 -> BASO 0.7995 (no BASO record at Week 2). BASO LB records start at Week 4, so
#   the screening CALCULATION record is the only BASO record with ADT <= TRTSDT -> ABLFL Y,
#   BASE 2.312; Week 2: CHG 0.7995 - 2.312 = -1.5125. No limits (ANRLO/ANRHI missing) ->
#   ANRIND missing, SHIFT1 "NULL to NULL"; BASO has no toxicity term -> SHIFT2 missing.
#   LYMPH 0.289: low grades < 0.05? no; < 0.2? no; < 0.5 -> "2" (absolute cut-off, LLN not
#   needed) -> ATOXGR "-2"; it is also LYMPH's baseline (LYM LB records start at Week 4) ->
#   BTOXGR "-2", SHIFT2 "-2 to -2". LBSEQ missing on them (0.9), PARCAT1 HEMATOLOGY.
#
# 01-701-1239 ALT, unscheduled baseline (TRTSDT 2014-01-11, TRTEDT 2014-07-10; ANRHI 43):
#   3 SCREENING 1 2013-12-28 64 | 40 UNSCHEDULED 1.1 2014-01-06 61 | 55 WEEK 2 01-25 47
#   90 WEEK 4 02-08 61 | 120 WEEK 6 02-19 60 | 150 WEEK 8 03-06 71 | 180 WEEK 12 04-02 70
#   215 WEEK 16 05-02 35 | 245 WEEK 20 05-28 35 | 275 WEEK 24 06-27 43 | 310 WEEK 26 07-11 39
# - ADT <= TRTSDT: screening (12-28) and UNSCHEDULED 1.1 (01-06); last by ADT -> the
#   unscheduled record is the baseline (SDTM LBBLFL sits on screening!). BASE 61.
#   AVISIT "Unscheduled 1.1", AVISITN 1.1 > 0 -> CHG = 0, PCHG = 0 (section 5 item 5).
#   61 > 43 -> HIGH; ATOXGRH: 61 > 3x43=129? no; > 43 -> "1" -> BTOXGR "1".
# - Screening record: ABLFL missing, AVISIT "Baseline", AVISITN 0 -> CHG missing; BASE 61.
# - Week 24, 43: NORMAL (43 <= 43), grade "0" (43 <= ULN) -> SHIFT1 "HIGH to NORMAL",
#   SHIFT2 "1 to 0", CHG -18, PCHG -1800/61 = -29.508196721311474.
# - Week 26 (2014-07-11) is after TRTEDT 2014-07-10 -> ONTRTFL missing, no ANL01FL; CHG -22.
# - LVOTFL and LOV: last on-treatment = Week 24 (LBSEQ 275, AVAL 43).
#   MAXIMUM 71 (Week 8, LBSEQ 150). MINIMUM: 35 on Week 16 (05-02) and Week 20 (05-28) ->
#   earliest ADT -> Week 16 (LBSEQ 215).

S1015, S1239 = "01-701-1015", "01-701-1239"


def _lb(subject, paramcd, adt, avisit, dtype=""):
    return {"USUBJID": subject, "PARAMCD": paramcd, "ADT": adt, "AVISIT": avisit, "DTYPE": dtype}


ADLB = [
    # 01-701-1015 ALT
    (_lb(S1015, "ALT", D(2013, 12, 26), "Baseline"),
     {"LBSEQ": 3, "AVAL": 27, "AVISITN": 0, "ADY": -7, "ABLFL": "Y", "BASE": 27, "CHG": None,
      "PCHG": None, "ONTRTFL": "", "ANRIND": "NORMAL", "BNRIND": "NORMAL", "ATOXGRL": "",
      "ATOXGRH": "0", "ATOXGR": "0", "SHIFT1": "NORMAL to NORMAL", "SHIFT2": "0 to 0",
      "ANL01FL": "", "LVOTFL": "", "BASETYPE": "LAST", "PARAM": "Alanine Aminotransferase (U/L)",
      "PARAMN": 3, "ATOXDSCH": "Alanine aminotransferase increased", "ATOXDSCL": ""}),
    (_lb(S1015, "ALT", D(2014, 1, 16), "Week 2"),
     {"LBSEQ": 41, "AVAL": 41, "AVISITN": 4, "ADY": 15, "ABLFL": "", "BASE": 27, "CHG": 14,
      "PCHG": 51.851851851851855, "R2BASE": 1.5185185185185186, "R2ANRHI": 1.2058823529411764,
      "ONTRTFL": "Y", "ANRIND": "HIGH", "BNRIND": "NORMAL", "ATOXGRL": "", "ATOXGRH": "1",
      "ATOXGR": "1", "BTOXGRH": "0", "BTOXGR": "0", "SHIFT1": "NORMAL to HIGH",
      "SHIFT2": "0 to 1", "ANL01FL": "Y", "LVOTFL": ""}),
    (_lb(S1015, "ALT", D(2014, 7, 2), "Week 26"),
     {"LBSEQ": 296, "AVAL": 23, "ONTRTFL": "Y", "ANL01FL": "Y", "LVOTFL": "Y", "CHG": -4}),
    (_lb(S1015, "ALT", D(2014, 5, 7), "POST-BASELINE MINIMUM", "MINIMUM"),
     {"LBSEQ": 201, "AVAL": 17, "AVISITN": 9997, "VISIT": "WEEK 16", "VISITNUM": 10,
      "CHG": -10, "BASE": 27, "ANL01FL": "Y", "ONTRTFL": "Y", "ABLFL": ""}),
    (_lb(S1015, "ALT", D(2014, 1, 16), "POST-BASELINE MAXIMUM", "MAXIMUM"),
     {"LBSEQ": 41, "AVAL": 41, "AVISITN": 9998, "CHG": 14, "ATOXGRH": "1",
      "SHIFT1": "NORMAL to HIGH", "ANL01FL": "Y"}),
    (_lb(S1015, "ALT", D(2014, 7, 2), "POST-BASELINE LAST", "LOV"),
     {"LBSEQ": 296, "AVAL": 23, "AVISITN": 9999, "VISIT": "WEEK 26", "CHG": -4, "LVOTFL": "Y"}),
    # 01-701-1015 CREAT
    (_lb(S1015, "CREAT", D(2013, 12, 26), "Baseline"),
     {"LBSEQ": 14, "AVAL": 79.56, "ABLFL": "Y", "BASE": 79.56, "ATOXGRH": "0", "ATOXGR": "0",
      "BTOXGRH": "0", "ANRIND": "NORMAL", "CHG": None}),
    (_lb(S1015, "CREAT", D(2014, 1, 16), "Week 2"),
     {"LBSEQ": 51, "AVAL": 88.4, "BASE": 79.56, "CHG": 8.84, "ANRIND": "NORMAL",
      "ATOXGRH": "1", "ATOXGR": "1", "SHIFT1": "NORMAL to NORMAL", "SHIFT2": "0 to 1",
      "ATOXDSCH": "Creatinine increased", "ANL01FL": "Y"}),
    (_lb(S1015, "CREAT", D(2014, 1, 30), "Week 4"), {"LBSEQ": 85, "ATOXGRH": "0"}),
    (_lb(S1015, "CREAT", D(2014, 3, 26), "Week 12"), {"LBSEQ": 176, "ATOXGRH": "0"}),
    (_lb(S1015, "CREAT", D(2014, 1, 16), "POST-BASELINE MAXIMUM", "MAXIMUM"),
     {"LBSEQ": 51, "AVAL": 88.4, "AVISITN": 9998}),
    (_lb(S1015, "CREAT", D(2014, 1, 30), "POST-BASELINE MINIMUM", "MINIMUM"),
     {"LBSEQ": 85, "AVAL": 70.72, "AVISITN": 9997}),
    (_lb(S1015, "CREAT", D(2014, 7, 2), "POST-BASELINE LAST", "LOV"),
     {"LBSEQ": 305, "AVAL": 88.4, "AVISITN": 9999, "ATOXGRH": "1"}),
    # 01-701-1015 CALCULATION records
    (_lb(S1015, "BASO", D(2013, 12, 26), "Baseline", "CALCULATION"),
     {"AVAL": 2.312, "LBSEQ": None, "VISIT": "SCREENING 1", "VISITNUM": 1, "AVISITN": 0,
      "ADY": -7, "PARAM": "Basophils Abs (10^9/L)", "PARAMN": 6, "PARCAT1": "HEMATOLOGY",
      "ABLFL": "Y", "BASE": 2.312, "ANRLO": None, "ANRHI": None, "ANRIND": "", "ONTRTFL": "",
      "SHIFT1": "NULL to NULL", "SHIFT2": "", "LBTESTCD": "", "AVALC": "", "BASETYPE": "LAST"}),
    (_lb(S1015, "BASO", D(2014, 1, 16), "Week 2", "CALCULATION"),
     {"AVAL": 0.7995, "AVISITN": 4, "BASE": 2.312, "CHG": -1.5125, "ONTRTFL": "Y",
      "ANL01FL": "Y", "ABLFL": ""}),
    (_lb(S1015, "LYMPH", D(2013, 12, 26), "Baseline", "CALCULATION"),
     {"AVAL": 0.289, "ABLFL": "Y", "ATOXDSCL": "CD4 lymphocytes decreased", "ATOXGRL": "2",
      "ATOXGRH": "", "ATOXGR": "-2", "BTOXGR": "-2", "SHIFT2": "-2 to -2",
      "PARAM": "Lymphocytes Abs (10^9/L)", "PARAMN": 25}),
    # 01-701-1239 ALT: unscheduled baseline
    (_lb(S1239, "ALT", D(2014, 1, 6), "Unscheduled 1.1"),
     {"LBSEQ": 40, "AVAL": 61, "AVISITN": 1.1, "ABLFL": "Y", "BASE": 61, "CHG": 0, "PCHG": 0,
      "ONTRTFL": "", "ANRIND": "HIGH", "ATOXGRH": "1", "BTOXGR": "1", "SHIFT1": "HIGH to HIGH",
      "SHIFT2": "1 to 1", "ADY": -5}),
    (_lb(S1239, "ALT", D(2013, 12, 28), "Baseline"),
     {"LBSEQ": 3, "AVAL": 64, "AVISITN": 0, "ABLFL": "", "BASE": 61, "CHG": None}),
    (_lb(S1239, "ALT", D(2014, 6, 27), "Week 24"),
     {"LBSEQ": 275, "AVAL": 43, "ANRIND": "NORMAL", "ATOXGRH": "0", "SHIFT1": "HIGH to NORMAL",
      "SHIFT2": "1 to 0", "CHG": -18, "PCHG": -29.508196721311474, "LVOTFL": "Y",
      "ONTRTFL": "Y", "ANL01FL": "Y"}),
    (_lb(S1239, "ALT", D(2014, 7, 11), "Week 26"),
     {"LBSEQ": 310, "ONTRTFL": "", "ANL01FL": "", "LVOTFL": "", "CHG": -22}),
    (_lb(S1239, "ALT", D(2014, 6, 27), "POST-BASELINE LAST", "LOV"), {"LBSEQ": 275, "AVAL": 43}),
    (_lb(S1239, "ALT", D(2014, 3, 6), "POST-BASELINE MAXIMUM", "MAXIMUM"),
     {"LBSEQ": 150, "AVAL": 71, "ATOXGRH": "1"}),
    (_lb(S1239, "ALT", D(2014, 5, 2), "POST-BASELINE MINIMUM", "MINIMUM"),
     {"LBSEQ": 215, "AVAL": 35, "VISIT": "WEEK 16"}),
]

# ------------------------------------------------------------------------------------------
# ADVS (section 4) for 01-701-1015 (TRTSDT 2014-01-02). Key: USUBJID, PARAMCD, BASETYPE, ADT,
# VISITNUM, AVISIT, ATPTN, DTYPE.
#
# VS records used (VSSEQ, VISIT, date, time point, value):
#   SYSBP 815: 86 SCREENING 1 2013-12-26 131 | 89 SCREENING 2 2013-12-31 138 |
#     92 BASELINE 2014-01-02 130 | 98 WEEK 2 2014-01-16 114 | 107 WEEK 6 02-12 148 |
#     110 WEEK 8 03-05 138 | 113 WEEK 12 03-26 139 | 116 WEEK 16 05-07 163 ...
#   SYSBP WEEK 2 816: 121, 817: 132. DIABP 815: BASELINE 56, WEEK 2 56.
#   HEIGHT 43 SCREENING 1 2013-12-26 147.32; WEIGHT 142 SCREENING 1 53.98, 143 BASELINE
#   2014-01-02 54.43, ..., 148 WEEK 12 2014-03-26 53.07. TEMP 130 BASELINE 36.22.
# - SYSBP 815 baseline (BASETYPE "LAST: AFTER LYING DOWN FOR 5 MINUTES"): ADT <= TRTSDT on
#   12-26, 12-31, 01-02 -> last by ADT = BASELINE VSSEQ 92, BASE 130. It is on TRTSDT but its
#   AVISIT is Baseline -> ONTRTFL missing. 130 <= ANRHI 130 -> NORMAL.
# - SYSBP 815 Week 2: AVISIT "Week 2", AVISITN 2 (the week number, 4.3), ADY 15, CHG -16,
#   PCHG -1600/130 = -12.307692307692308, ANL01FL Y.
# - SYSBP 815 screening 1: AVISIT missing (SCREEN), AVISITN missing, 131 > 130 -> HIGH.
# - SYSBP AVERAGE Week 2 (2014-01-16): (114 + 121 + 132) / 3 = 122.33333333333333; BASETYPE
#   LAST has no non-average SYSBP record -> BASE, CHG missing; VISIT, VISITNUM, ATPTN missing.
# - End of Treatment, SYSBP 815: ANL01FL records with 4 < AVISITN <= 13 are Weeks 6, 8, 12;
#   last by ADT -> Week 12 (VSSEQ 113, 139) -> copy with AVISIT "End of Treatment",
#   AVISITN 99, DTYPE LOV; CHG copied: 139 - 130 = 9; VISIT/VISITNUM of Week 12.
#   WEIGHT LOV: Week 12 (VSSEQ 148) 53.07, BASE 54.43 (baseline 2014-01-02), CHG -1.36.
# - MAP 815 at BASELINE: (2 x 56 + 130) / 3 = 80.66666666666667 -> its baseline (ABLFL Y);
#   at Week 2: (2 x 56 + 114) / 3 = 75.33333333333333, CHG = -16/3 = -5.333333333333333.
# - BMI at BASELINE: 54.43 / 1.4732^2 = 25.079271323822084; BSA: sqrt(147.32 x 54.43 / 3600)
#   = 1.4924465000647613; both BASETYPE LAST, ATPTN missing, ABLFL Y (last on/before TRTSDT).
# - HEIGHT 147.32 > 100 -> AVALCAT1 ">100 cm", AVALCA1N 1; ABLFL Y (2013-12-26 <= TRTSDT).
# - TEMP BASELINE 36.22 < 36.5 -> ANRIND LOW.

LYING = "LAST: AFTER LYING DOWN FOR 5 MINUTES"


def _vs(paramcd, basetype, adt, visitnum, avisit, atptn, dtype=""):
    return {"USUBJID": S1015, "PARAMCD": paramcd, "BASETYPE": basetype, "ADT": adt,
            "VISITNUM": visitnum, "AVISIT": avisit, "ATPTN": atptn, "DTYPE": dtype}


ADVS = [
    (_vs("SYSBP", LYING, D(2014, 1, 2), 3, "Baseline", 815),
     {"VSSEQ": 92, "AVAL": 130, "ABLFL": "Y", "BASE": 130, "AVISITN": 0, "CHG": None,
      "ONTRTFL": "", "ANRIND": "NORMAL", "BNRIND": "NORMAL", "ADY": 1,
      "PARAM": "Systolic Blood Pressure (mmHg)", "PARAMN": 1, "ANRLO": 90, "ANRHI": 130,
      "A1LO": 70, "A1HI": 140, "ATPT": "AFTER LYING DOWN FOR 5 MINUTES"}),
    (_vs("SYSBP", LYING, D(2014, 1, 16), 4, "Week 2", 815),
     {"VSSEQ": 98, "AVAL": 114, "AVISITN": 2, "ADY": 15, "BASE": 130, "CHG": -16,
      "PCHG": -12.307692307692308, "ONTRTFL": "Y", "ANL01FL": "Y", "ABLFL": ""}),
    (_vs("SYSBP", LYING, D(2013, 12, 26), 1, "", 815),
     {"VSSEQ": 86, "AVAL": 131, "AVISITN": None, "ABLFL": "", "BASE": 130, "CHG": None,
      "ANRIND": "HIGH", "ANL01FL": ""}),
    (_vs("SYSBP", "LAST", D(2014, 1, 16), None, "Week 2", None, "AVERAGE"),
     {"AVAL": 122.33333333333333, "AVISITN": 2, "BASE": None, "CHG": None, "VISIT": "",
      "VSSEQ": None, "ATPT": "", "ONTRTFL": "Y", "ANL01FL": "Y", "ABLFL": ""}),
    (_vs("SYSBP", LYING, D(2014, 3, 26), 9, "End of Treatment", 815, "LOV"),
     {"VSSEQ": 113, "AVAL": 139, "AVISITN": 99, "BASE": 130, "CHG": 9, "VISIT": "WEEK 12",
      "ANL01FL": "Y"}),
    (_vs("WEIGHT", "LAST", D(2014, 3, 26), 9, "End of Treatment", None, "LOV"),
     {"VSSEQ": 148, "AVAL": 53.07, "BASE": 54.43, "CHG": -1.36}),
    (_vs("WEIGHT", "LAST", D(2014, 1, 2), 3, "Baseline", None),
     {"VSSEQ": 143, "AVAL": 54.43, "ABLFL": "Y"}),
    (_vs("MAP", LYING, D(2014, 1, 2), 3, "Baseline", 815),
     {"AVAL": 80.66666666666667, "ABLFL": "Y", "VSSEQ": None,
      "PARAM": "Mean Arterial Pressure (mmHg)", "PARAMN": 7}),
    (_vs("MAP", LYING, D(2014, 1, 16), 4, "Week 2", 815),
     {"AVAL": 75.33333333333333, "BASE": 80.66666666666667, "CHG": -5.333333333333333}),
    (_vs("BMI", "LAST", D(2014, 1, 2), 3, "Baseline", None),
     {"AVAL": 25.079271323822084, "ABLFL": "Y", "PARAM": "Body Mass Index(kg/m^2)",
      "VSTPT": ""}),
    (_vs("BSA", "LAST", D(2014, 1, 2), 3, "Baseline", None),
     {"AVAL": 1.4924465000647613, "ABLFL": "Y", "PARAM": "Body Surface Area(m^2)"}),
    (_vs("HEIGHT", "LAST", D(2013, 12, 26), 1, "", None),
     {"AVAL": 147.32, "AVALCAT1": ">100 cm", "AVALCA1N": 1, "ABLFL": "Y"}),
    (_vs("TEMP", "LAST", D(2014, 1, 2), 3, "Baseline", None),
     {"AVAL": 36.22, "ANRIND": "LOW", "ABLFL": "Y"}),
]
