"""Windows and user-activity artefacts: registry hives, event logs, prefetch, shortcuts and jump lists, the Recycle
Bin, scheduled tasks and browser histories, each read by a library made for it into `Artefact` records.

Every parser is an analyzer (`base.ArtefactParser`) that recognises its artefact by content and name, wherever
it is found: on a disk image, in a folder of collected files, inside an archive."""
