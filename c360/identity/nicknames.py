"""Nickname groups for first-name comparison: every name in a group maps to the group's formal name.

Kept as its own module (a word list, not config): `nickname_key("bob") == nickname_key("robert")`.
"""

from __future__ import annotations

from functools import lru_cache

# formal: nicknames (space separated). Common English given names; a name may appear in more than one
# group only as a formal name's own variant, so the map stays a function.
_GROUPS = """
abigail: abby abbie gail
albert: al bert bertie
alexander: alex alec sandy xander
alexandra: alex alexa sandra sasha lexi
alfred: alf alfie fred
alice: ally allie
andrew: andy drew
angela: angie
anthony: tony ant
barbara: barb barbie babs
benjamin: ben benny benji
bradley: brad
catherine: cathy cat kate katie kathy katherine kathryn caitlin
charles: charlie chuck chas chaz
christina: chris tina christine kristina kristin
christopher: chris kit topher
cynthia: cindy
daniel: dan danny
david: dave davy
deborah: deb debbie debra
dennis: denny
donald: don donny
dorothy: dot dottie dolly
douglas: doug
edward: ed eddie ned ted teddy
elizabeth: liz lizzie beth betty eliza libby elisabeth betsy bess
emily: em emmy
frances: fran frannie
francis: frank frankie
frederick: fred freddie freddy
gabriel: gabe
gerald: gerry jerry
gregory: greg
harold: harry hal
helen: nell nellie
henry: hank harry
isabella: bella izzy isabel isabelle
jacob: jake
james: jim jimmy jamie jim
janet: jan
jennifer: jen jenny jenna
jessica: jess jessie
john: johnny jack jon
jonathan: jon jonny nathan
joseph: joe joey jo
joshua: josh
judith: judy jude
katherine: kate katie kathy cathy catherine kathryn
kenneth: ken kenny
kimberly: kim kimmy
lawrence: larry laurie
leonard: leo len lenny
margaret: maggie meg peggy marge margie greta
matthew: matt matty
megan: meg
michael: mike mikey mick mickey
nancy: nan
nathaniel: nate nat nathan
nicholas: nick nicky nico
oliver: ollie
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
susan: sue susie suzy suzanne
theodore: ted teddy theo
thomas: tom tommy
timothy: tim timmy
victoria: vicky tori vic
vincent: vince vinny
walter: walt wally
william: will bill billy willy liam
zachary: zach zack
"""


@lru_cache(maxsize=1)
def nickname_map() -> dict[str, str]:
    """lower-case name -> formal name of its group (formal names map to themselves)."""
    out: dict[str, str] = {}
    for line in _GROUPS.strip().splitlines():
        formal, _, rest = line.partition(":")
        formal = formal.strip()
        out.setdefault(formal, formal)
        for nick in rest.split():
            out.setdefault(nick, formal)
    return out


def nickname_key(name: str | None) -> str | None:
    """The formal form of a normalized first name (`bob` -> `robert`); the name itself when unknown."""
    if name is None:
        return None
    return nickname_map().get(name, name)
