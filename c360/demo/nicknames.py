"""Given names and their common short forms (Robert -> Bob, Rob, Bobby).

The generator uses this table to write nicknames into sources, and identity resolution reuses it to see that
"Bill Smith" and "William Smith" may be one person. Keys and values are capitalised as people write them.
"""

from __future__ import annotations

from functools import cache

NICKNAMES: dict[str, tuple[str, ...]] = {
    "Abigail": ("Abby", "Abbie"),
    "Alexander": ("Alex", "Xander", "Sandy"),
    "Alexandra": ("Alex", "Lexi", "Sandra"),
    "Alfred": ("Alf", "Fred"),
    "Amanda": ("Mandy",),
    "Andrew": ("Andy", "Drew"),
    "Anthony": ("Tony", "Ant"),
    "Barbara": ("Barb", "Babs"),
    "Benjamin": ("Ben", "Benny"),
    "Bradley": ("Brad",),
    "Catherine": ("Cathy", "Kate", "Cat"),
    "Charles": ("Charlie", "Chuck", "Chas"),
    "Charlotte": ("Lottie", "Charlie"),
    "Christina": ("Tina", "Chris"),
    "Christine": ("Chris", "Chrissy"),
    "Christopher": ("Chris", "Kit"),
    "Cynthia": ("Cindy",),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave", "Davey"),
    "Deborah": ("Debbie", "Deb"),
    "Donald": ("Don", "Donnie"),
    "Dorothy": ("Dot", "Dottie"),
    "Douglas": ("Doug",),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"),
    "Eleanor": ("Ellie", "Nora"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie", "Eliza"),
    "Emily": ("Em", "Emmy"),
    "Frances": ("Fran", "Frankie"),
    "Francis": ("Frank",),
    "Frederick": ("Fred", "Freddie"),
    "Gabriel": ("Gabe",),
    "Gerald": ("Gerry",),
    "Gregory": ("Greg",),
    "Harold": ("Harry", "Hal"),
    "Henry": ("Harry", "Hank"),
    "Isabella": ("Bella", "Izzy"),
    "Jacob": ("Jake",),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Jennifer": ("Jen", "Jenny"),
    "Jessica": ("Jess", "Jessie"),
    "John": ("Jack", "Johnny"),
    "Jonathan": ("Jon", "Jonny"),
    "Joseph": ("Joe", "Joey"),
    "Joshua": ("Josh",),
    "Katherine": ("Kate", "Kathy", "Katie", "Kat"),
    "Kathleen": ("Kathy", "Kath"),
    "Kenneth": ("Ken", "Kenny"),
    "Kimberly": ("Kim",),
    "Lawrence": ("Larry", "Laurie"),
    "Leonard": ("Len", "Lenny"),
    "Margaret": ("Maggie", "Peggy", "Meg", "Marge"),
    "Matthew": ("Matt",),
    "Michael": ("Mike", "Mick", "Mikey"),
    "Nicholas": ("Nick", "Nicky"),
    "Nicola": ("Nicky", "Nic"),
    "Olivia": ("Liv", "Livvy"),
    "Pamela": ("Pam",),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Patrick": ("Pat", "Paddy"),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Rebecca": ("Becky", "Becca"),
    "Richard": ("Rick", "Dick", "Rich", "Richie"),
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "Ronald": ("Ron", "Ronnie"),
    "Samantha": ("Sam", "Sammy"),
    "Samuel": ("Sam", "Sammy"),
    "Sarah": ("Sally",),
    "Stephanie": ("Steph",),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Susan": ("Sue", "Susie"),
    "Theodore": ("Theo", "Ted"),
    "Thomas": ("Tom", "Tommy"),
    "Timothy": ("Tim", "Timmy"),
    "Victoria": ("Vicky", "Tori"),
    "Walter": ("Walt",),
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Zachary": ("Zach", "Zack"),
    # a few from the other locales the demo simulates
    "Alejandro": ("Alex", "Álex"),
    "Antonio": ("Toni", "Tono"),
    "Dolores": ("Lola",),
    "Francesco": ("Franco", "Cesco"),
    "Francisco": ("Paco", "Curro", "Fran"),
    "Giuseppe": ("Beppe", "Peppe"),
    "Guillermo": ("Guille", "Memo"),
    "Johannes": ("Hannes", "Jo"),
    "José": ("Pepe",),
    "Manuel": ("Manolo", "Manu"),
    "Maximilian": ("Max",),
    "Wolfgang": ("Wolf",),
}


@cache
def formal_names() -> dict[str, tuple[str, ...]]:
    """Nickname -> the formal names it can stand for ("Sam" -> ("Samantha", "Samuel")), casefolded keys."""
    index: dict[str, list[str]] = {}
    for formal, shorts in NICKNAMES.items():
        for short in shorts:
            index.setdefault(short.casefold(), []).append(formal)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def name_variants(first_name: str) -> frozenset[str]:
    """Every casefolded spelling that may denote the same given name: itself, its nicknames, formal forms."""
    key = first_name.strip().casefold()
    out = {key}
    for formal, shorts in NICKNAMES.items():
        if formal.casefold() == key:
            out.update(s.casefold() for s in shorts)
    for formal in formal_names().get(key, ()):
        out.add(formal.casefold())
    return frozenset(out)


def same_given_name(a: str, b: str) -> bool:
    """True when `a` and `b` are one given name up to nicknames (Bill / William, Liz / Elizabeth)."""
    return a.strip().casefold() in name_variants(b)
