"""Questionnaire definitions that several test folders use."""

#: Four questions of four kinds, in English and German, with an intro and result bands.
TINY = """
id: tiny
title: {en: Tiny quiz, de: Mini-Quiz}
languages: [en, de]
intro: {en: Three quick questions., de: Drei kurze Fragen.}
sections:
  - id: main
    title: {en: About you, de: Über dich}
    questions:
      - id: mood
        type: likert
        text: {en: I feel great today, de: Mir geht es heute gut}
        min_label: {en: Disagree, de: Stimme nicht zu}
        max_label: {en: Agree, de: Stimme zu}
      - id: sports
        type: multiple_choice
        text: Which sports?
        min_selected: 1
        max_selected: 2
        options:
          - {id: run, text: Running}
          - {id: swim, text: Swimming}
          - {id: lift, text: Lifting}
      - id: age
        type: number
        text: How old are you?
        integer: true
        min: 16
        max: 99
      - id: note
        type: text
        text: Anything else?
        max_length: 20
        required: false
dimensions:
  - id: wellbeing
    label: {en: Wellbeing, de: Wohlbefinden}
    items: [{question: mood}]
    bands:
      - {up_to: 50, label: low, text: {en: Could be better., de: Geht besser.}}
      - {label: high, text: {en: Doing well., de: Gut drauf.}}
"""

#: A valid upload for the dashboard.
SNACKS = """\
id: snack-habits
title: Snack habits
sections:
  - id: main
    questions:
      - {id: sweet, type: likert, text: I like sweet snacks}
      - {id: salty, type: likert, text: I like salty snacks}
dimensions:
  - id: snacking
    label: Snacking
    items: [{question: sweet}, {question: salty}]
"""

#: Line 6 has a Likert scale of one point and line 9 names an unknown question.
BROKEN_SNACKS = """\
id: broken-habits
title: Broken habits
sections:
  - id: main
    questions:
      - {id: sweet, type: likert, points: 1, text: I like sweet snacks}
dimensions:
  - id: snacking
    label: Snacking
    items: [{question: nowhere}]
"""
