# Test stand-in for the FreeBSD ports framework's bsd.port.mk: the variables a
# pfSense package Makefile uses (with the framework's default values), and
# targets that run the port's own do-install into STAGEDIR and render its
# SUB_FILES, so a test can compare what is installed with pkg-plist.

PREFIX?=		/usr/local
LOCALBASE?=		/usr/local
DATADIR?=		${PREFIX}/share/${PORTNAME}
FILESDIR?=		${.CURDIR}/files
WRKDIR?=		${.CURDIR}/work
WRKSRC?=		${WRKDIR}/${PORTNAME}-${PORTVERSION}
STAGEDIR?=		${WRKDIR}/stage
PKGVERSION?=		${PORTVERSION}${PORTREVISION:D_${PORTREVISION}}
PKGNAME?=		${PORTNAME}-${PKGVERSION}
PYTHON_PKGNAMEPREFIX?=	py311-
PY_FLAVOR?=		py311

MKDIR?=			mkdir -p
INSTALL_DATA?=		install -m 444
INSTALL_SCRIPT?=	install -m 555
_STANDIN_DIR:=		${.PARSEDIR}
REINPLACE_CMD?=		sh ${_STANDIN_DIR}/reinplace.sh

# SUB_LIST "A=b" becomes sed -e 's!%%A%%!b!g', as in bsd.port.mk.
_SUB_LIST_SED=		${SUB_LIST:S/$/!g/:S/^/ -e s!%%/:S/=/%%!/}

.MAIN: stage

stage: do-install sub-files

sub-files:
	${MKDIR} ${WRKDIR}
.for f in ${SUB_FILES}
	sed ${_SUB_LIST_SED} ${FILESDIR}/${f}.in > ${WRKDIR}/${f}
.endfor

.PHONY: stage sub-files do-install do-extract
