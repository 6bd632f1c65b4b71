# Test stand-in for the FreeBSD ports framework's bsd.port.mk: the variables a
# pfSense package Makefile uses (with the framework's default values), USE_GITHUB's
# distfile and WRKSRC naming (Mk/bsd.sites.mk), and targets that extract the distfile
# from DISTDIR, run the port's own do-install into STAGEDIR and render its SUB_FILES,
# so a test can compare what is installed with pkg-plist and with the distfile.

PREFIX?=		/usr/local
LOCALBASE?=		/usr/local
DATADIR?=		${PREFIX}/share/${PORTNAME}
FILESDIR?=		${.CURDIR}/files
WRKDIR?=		${.CURDIR}/work
DISTDIR?=		${.CURDIR}/distfiles
PYTHON_PKGNAMEPREFIX?=	py311-
PY_FLAVOR?=		py311
PKGVERSION?=		${PORTVERSION}${PORTREVISION:D_${PORTREVISION}}
PKGNAME?=		${PKGNAMEPREFIX}${PORTNAME}-${PKGVERSION}
DISTVERSION?=		${PORTVERSION}
DISTVERSIONFULL?=	${DISTVERSIONPREFIX}${DISTVERSION}${DISTVERSIONSUFFIX}
EXTRACT_SUFX?=		.tar.gz

.if defined(USE_GITHUB)
# bsd.sites.mk: the tag's tarball, saved as ACCOUNT-PROJECT-TAG_GH0.tar.gz, extracts to PROJECT-TAG
# with GitHub's leading "v" dropped.
GH_PROJECT?=		${PORTNAME}
GH_TAGNAME?=		${DISTVERSIONFULL}
DISTNAME?=		${GH_ACCOUNT}-${GH_PROJECT}-${GH_TAGNAME}_GH0
WRKSRC?=		${WRKDIR}/${GH_PROJECT}-${GH_TAGNAME:C/^v([0-9])/\1/}
.endif
DISTNAME?=		${PORTNAME}-${DISTVERSIONFULL}
DISTFILES?=		${DISTNAME}${EXTRACT_SUFX}
WRKSRC?=		${WRKDIR}/${DISTNAME}
STAGEDIR?=		${WRKDIR}/stage

MKDIR?=			mkdir -p
INSTALL_DATA?=		install -m 444
INSTALL_SCRIPT?=	install -m 555
_STANDIN_DIR:=		${.PARSEDIR}
REINPLACE_CMD?=		sh ${_STANDIN_DIR}/reinplace.sh

# SUB_LIST "A=b" becomes sed -e 's!%%A%%!b!g', as in bsd.port.mk.
_SUB_LIST_SED=		${SUB_LIST:S/$/!g/:S/^/ -e s!%%/:S/=/%%!/}

.MAIN: stage

stage: extract do-install sub-files

extract:
	${MKDIR} ${WRKDIR}
.for f in ${DISTFILES}
	tar -xzf ${DISTDIR}/${f} -C ${WRKDIR}
.endfor

sub-files:
	${MKDIR} ${WRKDIR}
.for f in ${SUB_FILES}
	sed ${_SUB_LIST_SED} ${FILESDIR}/${f}.in > ${WRKDIR}/${f}
.endfor

.PHONY: stage extract sub-files do-install
