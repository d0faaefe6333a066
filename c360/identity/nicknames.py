"""Nickname groups for first-name comparison: every name in a group maps to the group's formal name.

Kept as its own module (a word list, not config): `nickname_key("bob") == nickname_key("robert")`.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

# formal: nicknames (space separated). Common given names and their short forms. A short form may belong to
# several names (sam: samantha and samuel; alex; chris): two names agree when they share any group.
_GROUPS = """
abigail: abby abbie gail
albert: al bert bertie
alejandro: alex ale
alexander: alex alec sandy xander
alexandra: alex alexa sandra sasha lexi
alfred: alf alfie fred
alice: ally allie
amanda: mandy manda
andrew: andy drew
angela: angie
anthony: tony ant
antonio: toni tono tony
barbara: barb barbie babs
benjamin: ben benny benji
bradley: brad
catherine: cathy cat kate katie kathy katherine kathryn caitlin
charles: charlie chuck chas chaz
charlotte: lottie charlie lotte
christina: chris tina christine kristina kristin
christine: chris chrissy tina
christopher: chris kit topher
cynthia: cindy
daniel: dan danny
david: dave davy davey
deborah: deb debbie debra
dennis: denny
dolores: lola
donald: don donny donnie
dorothy: dot dottie dolly
douglas: doug
edward: ed eddie ned ted teddy
eleanor: ellie nora elle
elizabeth: liz lizzie beth betty eliza libby elisabeth betsy bess
emily: em emmy
frances: fran frannie frankie
francesco: franco cesco
francis: frank frankie
francisco: paco curro fran pancho
frederick: fred freddie freddy
gabriel: gabe
gerald: gerry jerry
giuseppe: beppe peppe pino
gregory: greg
guillermo: guille memo
harold: harry hal
helen: nell nellie
henry: hank harry
isabella: bella izzy isabel isabelle
jacob: jake
james: jim jimmy jamie jim
janet: jan
jennifer: jen jenny jenna
jessica: jess jessie
johannes: hannes jo
john: johnny jack jon
jonathan: jon jonny nathan
jose: pepe
joseph: joe joey jo
joshua: josh
judith: judy jude
katherine: kate katie kathy cathy catherine kathryn kat
kathleen: kathy kath kate
kenneth: ken kenny
kimberly: kim kimmy
lawrence: larry laurie
leonard: leo len lenny
manuel: manolo manu
margaret: maggie meg peggy marge margie greta
matthew: matt matty
maximilian: max maxi
megan: meg
michael: mike mikey mick mickey
nancy: nan
nathaniel: nate nat nathan
nicholas: nick nicky nico
nicola: nicky nic nikki
oliver: ollie
olivia: liv livvy
pamela: pam
patricia: pat patty trish tricia
patrick: pat paddy rick
peter: pete
philip: phil pip phillip
rebecca: becky becca
richard: rick ricky dick rich richie
robert: bob bobby rob robbie bert
ronald: ron ronnie
samantha: sam sammy
samuel: sam sammy
sarah: sara sally sadie
stephanie: steph stephie
stephen: steve stevie steven
steven: steve stevie
susan: sue susie suzy suzanne
theodore: ted teddy theo
thomas: tom tommy
timothy: tim timmy
victoria: vicky tori vic
vincent: vince vinny
walter: walt wally
william: will bill billy willy liam
wolfgang: wolf
zachary: zach zack
"""


@lru_cache(maxsize=1)
def _groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(formal name, its names: the formal one first, then the short forms), in the table's order."""
    out = []
    for line in _GROUPS.strip().splitlines():
        formal, _, rest = line.partition(":")
        out.append((formal.strip(), (formal.strip(), *rest.split())))
    return tuple(out)


@lru_cache(maxsize=1)
def nickname_map() -> dict[str, str]:
    """lower-case name -> formal name of its first group (formal names map to themselves).

    One key per name, for a blocking key; comparisons use `nickname_groups` (a name may be in several)."""
    out: dict[str, str] = {}
    for formal, names in _groups():
        out.setdefault(formal, formal)
        for name in names:
            out.setdefault(name, formal)
    return out


def nickname_key(name: str | None) -> str | None:
    """The formal form of a normalized first name (`bob` -> `robert`); the name itself when unknown."""
    if name is None:
        return None
    return nickname_map().get(name, name)


@lru_cache(maxsize=1)
def nickname_groups() -> dict[str, frozenset[str]]:
    """lower-case name -> the formal names of every group it belongs to (`sam` -> samantha and samuel)."""
    out: dict[str, set[str]] = {}
    for formal, names in _groups():
        for name in names:
            out.setdefault(name, set()).add(formal)
    return {name: frozenset(groups) for name, groups in out.items()}


def nickname_signature(name: str | None) -> str | None:
    """The name's groups as `a|b` (the name itself when it has none), for a comparison in SQL."""
    if name is None:
        return None
    return "|".join(sorted(nickname_groups().get(name) or (name,)))


def same_nickname_group(a: str, b: str) -> bool:
    """Whether two normalized first names share a nickname group (or are equal)."""
    if a == b:
        return True
    groups = nickname_groups()
    return bool((groups.get(a) or {a}) & (groups.get(b) or {b}))


@lru_cache(maxsize=1)
def _group_names() -> dict[str, tuple[str, ...]]:
    """formal name -> every name of its group."""
    return {formal: names for formal, names in _groups()}


def misspelt_nickname(a: str, b: str, max_edits: int) -> bool:
    """Whether one name is a misspelling of a name in the other's nickname groups ("aleex" and "alexander",
    "mndy" and "amanda"): a nickname and a typo together, each common on its own. Names under three letters
    are left to the initial rule."""
    groups = nickname_groups()
    for x, y in ((a, b), (b, a)):
        if len(x) < 3:
            continue
        for formal in groups.get(y, ()):
            if any(DamerauLevenshtein.distance(x, n) <= max_edits for n in _group_names()[formal]):
                return True
    return False
