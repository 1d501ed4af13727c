<?xml version="1.0" encoding="UTF-8"?>
<!--
  itp-adam's stylesheet for Define-XML 2.1 (with ARM 1.0): shows a define.xml as one HTML page.

  XSLT 1.0, so a browser can apply it (the define.xml names it in an xml-stylesheet
  instruction) and so can lxml. Sections: study and standards, table of contents, analysis
  results (ARM), datasets, one table per dataset with its variables, value-level metadata,
  codelists, external dictionaries, methods, comments, documents. Links inside the page use the
  OIDs as anchors; dataset and document links are the def:leaf hrefs.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:odm="http://www.cdisc.org/ns/odm/v1.3"
    xmlns:def="http://www.cdisc.org/ns/def/v2.1"
    xmlns:arm="http://www.cdisc.org/ns/arm/v1.0"
    xmlns:xlink="http://www.w3.org/1999/xlink"
    exclude-result-prefixes="odm def arm xlink">

  <xsl:output method="html" encoding="UTF-8" indent="no"
      doctype-system="about:legacy-compat"/>

  <xsl:key name="item" match="odm:ItemDef" use="@OID"/>
  <xsl:key name="codelist" match="odm:CodeList" use="@OID"/>
  <xsl:key name="method" match="odm:MethodDef" use="@OID"/>
  <xsl:key name="comment" match="def:CommentDef" use="@OID"/>
  <xsl:key name="leaf" match="def:leaf" use="@ID"/>
  <xsl:key name="where" match="def:WhereClauseDef" use="@OID"/>
  <xsl:key name="valuelist" match="def:ValueListDef" use="@OID"/>
  <xsl:key name="group" match="odm:ItemGroupDef" use="@OID"/>

  <xsl:variable name="mdv" select="/odm:ODM/odm:Study/odm:MetaDataVersion"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="UTF-8"/>
        <title>Define-XML: <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/>
          <xsl:text> </xsl:text><xsl:value-of select="$mdv/@Name"/></title>
        <style>
          body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 13px; margin: 0; color: #1d2733; }
          nav { position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto;
                background: #eef2f6; border-right: 1px solid #c9d3dd; padding: 10px; box-sizing: border-box; }
          nav h2 { font-size: 14px; margin: 4px 0 8px 0; }
          nav ul { list-style: none; padding-left: 10px; margin: 2px 0; }
          nav li { margin: 2px 0; }
          nav a { color: #17457a; text-decoration: none; }
          main { margin-left: 240px; padding: 10px 20px 40px 10px; }
          h1 { font-size: 20px; margin: 8px 0; }
          h2 { font-size: 17px; border-bottom: 2px solid #17457a; padding-bottom: 3px; margin-top: 28px; }
          h3 { font-size: 14px; margin: 18px 0 6px 0; }
          table { border-collapse: collapse; margin: 4px 0 12px 0; width: 100%; }
          th, td { border: 1px solid #b8c4d0; padding: 3px 6px; text-align: left; vertical-align: top; }
          th { background: #dde6ef; }
          tr:nth-child(even) td { background: #f7f9fb; }
          caption { text-align: left; font-weight: bold; padding: 4px 0; }
          .small { font-size: 11px; color: #4a5a6a; }
          .code { font-family: "DejaVu Sans Mono", monospace; white-space: pre-wrap; }
          .ext { color: #a0460a; font-weight: bold; }
          dl.summary dt { font-weight: bold; float: left; width: 180px; clear: left; }
          dl.summary dd { margin-left: 190px; }
        </style>
      </head>
      <body>
        <nav>
          <h2>Contents</h2>
          <ul>
            <li><a href="#study">Study and standards</a></li>
            <xsl:if test="$mdv/arm:AnalysisResultDisplays">
              <li><a href="#arm">Analysis results</a>
                <ul>
                  <xsl:for-each select="$mdv/arm:AnalysisResultDisplays/arm:ResultDisplay">
                    <li><a href="#{@OID}"><xsl:value-of select="@Name"/></a></li>
                  </xsl:for-each>
                </ul>
              </li>
            </xsl:if>
            <li><a href="#datasets">Datasets</a>
              <ul>
                <xsl:for-each select="$mdv/odm:ItemGroupDef">
                  <li><a href="#{@OID}"><xsl:value-of select="@Name"/></a></li>
                </xsl:for-each>
              </ul>
            </li>
            <xsl:if test="$mdv/def:ValueListDef"><li><a href="#valuelevel">Value-level metadata</a></li></xsl:if>
            <xsl:if test="$mdv/odm:CodeList[not(odm:ExternalCodeList)]"><li><a href="#codelists">Codelists</a></li></xsl:if>
            <xsl:if test="$mdv/odm:CodeList[odm:ExternalCodeList]"><li><a href="#dictionaries">External dictionaries</a></li></xsl:if>
            <xsl:if test="$mdv/odm:MethodDef"><li><a href="#methods">Methods</a></li></xsl:if>
            <xsl:if test="$mdv/def:CommentDef"><li><a href="#comments">Comments</a></li></xsl:if>
            <xsl:if test="$mdv/def:leaf"><li><a href="#documents">Documents</a></li></xsl:if>
          </ul>
        </nav>
        <main>
          <xsl:call-template name="study"/>
          <xsl:if test="$mdv/arm:AnalysisResultDisplays">
            <xsl:call-template name="arm"/>
          </xsl:if>
          <xsl:call-template name="datasets"/>
          <xsl:for-each select="$mdv/odm:ItemGroupDef">
            <xsl:call-template name="dataset"/>
          </xsl:for-each>
          <xsl:if test="$mdv/def:ValueListDef">
            <h2 id="valuelevel">Value-level metadata</h2>
            <xsl:for-each select="$mdv/def:ValueListDef">
              <xsl:call-template name="valuelist"/>
            </xsl:for-each>
          </xsl:if>
          <xsl:call-template name="codelists"/>
          <xsl:call-template name="dictionaries"/>
          <xsl:call-template name="methods"/>
          <xsl:call-template name="comments"/>
          <xsl:call-template name="documents"/>
          <p class="small">Shown with itp-adam's define2-1.xsl (XSLT 1.0).</p>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- study, standards and the define document itself -->
  <xsl:template name="study">
    <xsl:variable name="gv" select="/odm:ODM/odm:Study/odm:GlobalVariables"/>
    <h1 id="study"><xsl:value-of select="$gv/odm:StudyName"/>: <xsl:value-of select="$mdv/@Name"/></h1>
    <dl class="summary">
      <dt>Study</dt><dd><xsl:value-of select="$gv/odm:StudyDescription"/></dd>
      <dt>Protocol</dt><dd><xsl:value-of select="$gv/odm:ProtocolName"/></dd>
      <dt>Metadata</dt><dd><xsl:value-of select="$mdv/@Description"/></dd>
      <dt>Define-XML version</dt><dd><xsl:value-of select="$mdv/@def:DefineVersion"/>
        (context: <xsl:value-of select="/odm:ODM/@def:Context"/>)</dd>
      <dt>Created</dt><dd><xsl:value-of select="/odm:ODM/@CreationDateTime"/> by
        <xsl:value-of select="/odm:ODM/@SourceSystem"/>
        <xsl:text> </xsl:text><xsl:value-of select="/odm:ODM/@SourceSystemVersion"/></dd>
    </dl>
    <table>
      <caption>Standards</caption>
      <tr><th>Standard</th><th>Type</th><th>Publishing set</th><th>Version</th><th>Status</th></tr>
      <xsl:for-each select="$mdv/def:Standards/def:Standard">
        <tr><td><xsl:value-of select="@Name"/></td><td><xsl:value-of select="@Type"/></td>
          <td><xsl:value-of select="@PublishingSet"/></td><td><xsl:value-of select="@Version"/></td>
          <td><xsl:value-of select="@Status"/></td></tr>
      </xsl:for-each>
    </table>
    <xsl:if test="$mdv/def:AnnotatedCRF or $mdv/def:SupplementalDoc">
      <p>
        <xsl:if test="$mdv/def:AnnotatedCRF">Annotated CRF:
          <xsl:for-each select="$mdv/def:AnnotatedCRF/def:DocumentRef"><xsl:call-template name="docref"/></xsl:for-each>.
        </xsl:if>
        <xsl:if test="$mdv/def:SupplementalDoc">Supplemental documents:
          <xsl:for-each select="$mdv/def:SupplementalDoc/def:DocumentRef">
            <xsl:if test="position() > 1">, </xsl:if><xsl:call-template name="docref"/>
          </xsl:for-each>.
        </xsl:if>
      </p>
    </xsl:if>
  </xsl:template>

  <!-- the datasets -->
  <xsl:template name="datasets">
    <h2 id="datasets">Datasets</h2>
    <table>
      <tr><th>Dataset</th><th>Description</th><th>Class</th><th>Structure</th><th>Purpose</th>
        <th>Keys</th><th>Comment</th><th>Location</th></tr>
      <xsl:for-each select="$mdv/odm:ItemGroupDef">
        <tr>
          <td><a href="#{@OID}"><xsl:value-of select="@Name"/></a></td>
          <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
          <td><xsl:value-of select="def:Class/@Name"/></td>
          <td><xsl:value-of select="@def:Structure"/></td>
          <td><xsl:value-of select="@Purpose"/></td>
          <td><xsl:call-template name="keys"/></td>
          <td><xsl:call-template name="commentref"><xsl:with-param name="oid" select="@def:CommentOID"/></xsl:call-template></td>
          <td><a href="{def:leaf/@xlink:href}"><xsl:value-of select="def:leaf/def:title"/></a></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template name="keys">
    <xsl:for-each select="odm:ItemRef[@KeySequence]">
      <xsl:sort select="@KeySequence" data-type="number"/>
      <xsl:if test="position() > 1">, </xsl:if>
      <xsl:value-of select="key('item', @ItemOID)/@Name"/>
    </xsl:for-each>
  </xsl:template>

  <!-- one dataset and its variables -->
  <xsl:template name="dataset">
    <h3 id="{@OID}"><xsl:value-of select="@Name"/>: <xsl:value-of select="odm:Description/odm:TranslatedText"/>
      <span class="small"> (<xsl:value-of select="def:Class/@Name"/>; <a href="{def:leaf/@xlink:href}"><xsl:value-of select="def:leaf/def:title"/></a>)</span></h3>
    <table class="variables">
      <tr><th>Variable</th><th>Label</th><th>Key</th><th>Type</th><th>Length</th><th>Display / digits</th>
        <th>Mandatory</th><th>Controlled terms</th><th>Origin</th><th>Method / comment</th></tr>
      <xsl:for-each select="odm:ItemRef">
        <xsl:variable name="it" select="key('item', @ItemOID)"/>
        <tr id="{../@OID}.{@ItemOID}">
          <td><xsl:value-of select="$it/@Name"/>
            <xsl:if test="$it/def:ValueListRef">
              <br/><a class="small" href="#{$it/def:ValueListRef/@ValueListOID}">value level</a>
            </xsl:if>
          </td>
          <td><xsl:value-of select="$it/odm:Description/odm:TranslatedText"/></td>
          <td><xsl:value-of select="@KeySequence"/></td>
          <td><xsl:value-of select="$it/@DataType"/></td>
          <td><xsl:value-of select="$it/@Length"/></td>
          <td><xsl:value-of select="$it/@def:DisplayFormat"/>
            <xsl:if test="$it/@SignificantDigits"> <xsl:value-of select="$it/@SignificantDigits"/> digits</xsl:if></td>
          <td><xsl:value-of select="@Mandatory"/></td>
          <td><xsl:call-template name="codelistref"><xsl:with-param name="it" select="$it"/></xsl:call-template></td>
          <td><xsl:call-template name="origin"><xsl:with-param name="it" select="$it"/></xsl:call-template></td>
          <td>
            <xsl:call-template name="methodref"><xsl:with-param name="oid" select="@MethodOID"/></xsl:call-template>
            <xsl:call-template name="commentref"><xsl:with-param name="oid" select="$it/@def:CommentOID"/></xsl:call-template>
          </td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template name="codelistref">
    <xsl:param name="it"/>
    <xsl:if test="$it/odm:CodeListRef">
      <xsl:variable name="cl" select="key('codelist', $it/odm:CodeListRef/@CodeListOID)"/>
      <xsl:choose>
        <xsl:when test="$cl/odm:ExternalCodeList">
          <a href="#dictionaries"><xsl:value-of select="$cl/odm:ExternalCodeList/@Dictionary"/>
            <xsl:text> </xsl:text><xsl:value-of select="$cl/odm:ExternalCodeList/@Version"/></a>
        </xsl:when>
        <xsl:otherwise>
          <a href="#{$cl/@OID}"><xsl:value-of select="$cl/@Name"/></a>
          <xsl:if test="count($cl/odm:CodeListItem | $cl/odm:EnumeratedItem) &lt;= 5">
            <span class="small"><br/>
              <xsl:for-each select="$cl/odm:CodeListItem | $cl/odm:EnumeratedItem">
                <xsl:if test="position() > 1">, </xsl:if>
                <xsl:text>"</xsl:text><xsl:value-of select="@CodedValue"/><xsl:text>"</xsl:text>
              </xsl:for-each>
            </span>
          </xsl:if>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>

  <xsl:template name="origin">
    <xsl:param name="it"/>
    <xsl:for-each select="$it/def:Origin">
      <xsl:value-of select="@Type"/>
      <xsl:if test="@Source"> (<xsl:value-of select="@Source"/>)</xsl:if>
      <xsl:if test="odm:Description"><br/><span class="small"><xsl:value-of select="odm:Description/odm:TranslatedText"/></span></xsl:if>
      <xsl:for-each select="def:DocumentRef"><br/><xsl:call-template name="docref"/></xsl:for-each>
    </xsl:for-each>
  </xsl:template>

  <xsl:template name="methodref">
    <xsl:param name="oid"/>
    <xsl:if test="$oid">
      <xsl:variable name="m" select="key('method', $oid)"/>
      <a href="#{$oid}">Method</a>: <xsl:value-of select="$m/odm:Description/odm:TranslatedText"/>
      <xsl:for-each select="$m/def:DocumentRef"> [<xsl:call-template name="docref"/>]</xsl:for-each>
      <br/>
    </xsl:if>
  </xsl:template>

  <xsl:template name="commentref">
    <xsl:param name="oid"/>
    <xsl:if test="$oid">
      <xsl:variable name="c" select="key('comment', $oid)"/>
      <a href="#{$oid}">Comment</a>: <xsl:value-of select="$c/odm:Description/odm:TranslatedText"/>
      <xsl:for-each select="$c/def:DocumentRef"> [<xsl:call-template name="docref"/>]</xsl:for-each>
    </xsl:if>
  </xsl:template>

  <xsl:template name="docref">
    <xsl:variable name="leaf" select="key('leaf', @leafID)"/>
    <a href="{$leaf/@xlink:href}"><xsl:value-of select="$leaf/def:title"/></a>
  </xsl:template>

  <!-- value-level metadata: one table per value list -->
  <xsl:template name="valuelist">
    <xsl:variable name="parent" select="$mdv/odm:ItemDef[def:ValueListRef/@ValueListOID = current()/@OID]"/>
    <xsl:variable name="group" select="$mdv/odm:ItemGroupDef[odm:ItemRef/@ItemOID = $parent/@OID]"/>
    <h3 id="{@OID}"><xsl:value-of select="$group/@Name"/>.<xsl:value-of select="$parent/@Name"/>
      <span class="small"> (value-level metadata of <a href="#{$group/@OID}.{$parent/@OID}"><xsl:value-of select="$parent/odm:Description/odm:TranslatedText"/></a>)</span></h3>
    <table class="valuelist">
      <tr><th>Where</th><th>Description</th><th>Type</th><th>Length</th><th>Digits</th><th>Mandatory</th>
        <th>Controlled terms</th><th>Origin</th><th>Method / comment</th></tr>
      <xsl:for-each select="odm:ItemRef">
        <xsl:variable name="it" select="key('item', @ItemOID)"/>
        <tr id="{@ItemOID}">
          <td><xsl:for-each select="def:WhereClauseRef"><xsl:call-template name="where"/></xsl:for-each></td>
          <td><xsl:value-of select="$it/odm:Description/odm:TranslatedText"/></td>
          <td><xsl:value-of select="$it/@DataType"/></td>
          <td><xsl:value-of select="$it/@Length"/></td>
          <td><xsl:value-of select="$it/@SignificantDigits"/></td>
          <td><xsl:value-of select="@Mandatory"/></td>
          <td><xsl:call-template name="codelistref"><xsl:with-param name="it" select="$it"/></xsl:call-template></td>
          <td><xsl:call-template name="origin"><xsl:with-param name="it" select="$it"/></xsl:call-template></td>
          <td>
            <xsl:call-template name="methodref"><xsl:with-param name="oid" select="@MethodOID"/></xsl:call-template>
            <xsl:call-template name="commentref"><xsl:with-param name="oid" select="$it/@def:CommentOID"/></xsl:call-template>
          </td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <!-- a where clause as text: VAR = "x" and VAR in ("a", "b") -->
  <xsl:template name="where">
    <xsl:for-each select="key('where', @WhereClauseOID)/odm:RangeCheck">
      <xsl:if test="position() > 1"> and </xsl:if>
      <xsl:value-of select="key('item', @def:ItemOID)/@Name"/>
      <xsl:choose>
        <xsl:when test="@Comparator = 'EQ'"> = </xsl:when>
        <xsl:when test="@Comparator = 'NE'"> &#8800; </xsl:when>
        <xsl:when test="@Comparator = 'IN'"> in </xsl:when>
        <xsl:when test="@Comparator = 'NOTIN'"> not in </xsl:when>
        <xsl:otherwise><xsl:text> </xsl:text><xsl:value-of select="@Comparator"/><xsl:text> </xsl:text></xsl:otherwise>
      </xsl:choose>
      <xsl:if test="count(odm:CheckValue) > 1">(</xsl:if>
      <xsl:for-each select="odm:CheckValue">
        <xsl:if test="position() > 1">, </xsl:if>
        <xsl:text>"</xsl:text><xsl:value-of select="."/><xsl:text>"</xsl:text>
      </xsl:for-each>
      <xsl:if test="count(odm:CheckValue) > 1">)</xsl:if>
    </xsl:for-each>
  </xsl:template>

  <!-- codelists with their terms -->
  <xsl:template name="codelists">
    <xsl:if test="$mdv/odm:CodeList[not(odm:ExternalCodeList)]">
      <h2 id="codelists">Codelists</h2>
      <xsl:for-each select="$mdv/odm:CodeList[not(odm:ExternalCodeList)]">
        <table class="codelist" id="{@OID}">
          <caption><xsl:value-of select="@Name"/>
            <xsl:choose>
              <xsl:when test="odm:Alias[@Context='nci:ExtCodeID']"> [CDISC CT <xsl:value-of select="odm:Alias/@Name"/>]</xsl:when>
              <xsl:otherwise> [sponsor-defined]</xsl:otherwise>
            </xsl:choose>
            <span class="small"> (<xsl:value-of select="@DataType"/>)</span>
            <xsl:if test="@def:CommentOID"><br/><span class="small"><xsl:call-template name="commentref"><xsl:with-param name="oid" select="@def:CommentOID"/></xsl:call-template></span></xsl:if>
          </caption>
          <tr><th>Coded value</th><th>Decode</th><th>NCI code</th></tr>
          <xsl:for-each select="odm:CodeListItem | odm:EnumeratedItem">
            <tr>
              <td><xsl:value-of select="@CodedValue"/>
                <xsl:if test="@def:ExtendedValue = 'Yes'"> <span class="ext" title="extended value">*</span></xsl:if></td>
              <td><xsl:value-of select="odm:Decode/odm:TranslatedText"/></td>
              <td><xsl:value-of select="odm:Alias[@Context='nci:ExtCodeID']/@Name"/></td>
            </tr>
          </xsl:for-each>
        </table>
        <xsl:if test="*/@def:ExtendedValue = 'Yes'"><p class="small"><span class="ext">*</span> Extended value: a sponsor term added to the CDISC codelist.</p></xsl:if>
      </xsl:for-each>
    </xsl:if>
  </xsl:template>

  <xsl:template name="dictionaries">
    <xsl:if test="$mdv/odm:CodeList[odm:ExternalCodeList]">
      <h2 id="dictionaries">External dictionaries</h2>
      <table>
        <tr><th>Codelist</th><th>Dictionary</th><th>Version</th><th>Variables</th></tr>
        <xsl:for-each select="$mdv/odm:CodeList[odm:ExternalCodeList]">
          <tr id="{@OID}">
            <td><xsl:value-of select="@Name"/> <span class="small"> (<xsl:value-of select="@DataType"/>)</span></td>
            <td><xsl:choose>
              <xsl:when test="odm:ExternalCodeList/@href"><a href="{odm:ExternalCodeList/@href}"><xsl:value-of select="odm:ExternalCodeList/@Dictionary"/></a></xsl:when>
              <xsl:otherwise><xsl:value-of select="odm:ExternalCodeList/@Dictionary"/></xsl:otherwise>
            </xsl:choose></td>
            <td><xsl:value-of select="odm:ExternalCodeList/@Version"/></td>
            <td><xsl:for-each select="$mdv/odm:ItemDef[odm:CodeListRef/@CodeListOID = current()/@OID]">
              <xsl:if test="position() > 1">, </xsl:if><xsl:value-of select="substring-after(@OID, 'IT.')"/>
            </xsl:for-each></td>
          </tr>
        </xsl:for-each>
      </table>
    </xsl:if>
  </xsl:template>

  <xsl:template name="methods">
    <xsl:if test="$mdv/odm:MethodDef">
      <h2 id="methods">Methods</h2>
      <table>
        <tr><th>Method</th><th>Type</th><th>Description</th><th>Documents</th></tr>
        <xsl:for-each select="$mdv/odm:MethodDef">
          <tr id="{@OID}">
            <td><xsl:value-of select="@Name"/></td>
            <td><xsl:value-of select="@Type"/></td>
            <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
            <td><xsl:for-each select="def:DocumentRef"><xsl:call-template name="docref"/><br/></xsl:for-each></td>
          </tr>
        </xsl:for-each>
      </table>
    </xsl:if>
  </xsl:template>

  <xsl:template name="comments">
    <xsl:if test="$mdv/def:CommentDef">
      <h2 id="comments">Comments</h2>
      <table>
        <tr><th>Comment</th><th>Text</th><th>Documents</th></tr>
        <xsl:for-each select="$mdv/def:CommentDef">
          <tr id="{@OID}">
            <td><xsl:value-of select="substring-after(@OID, 'COM.')"/></td>
            <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
            <td><xsl:for-each select="def:DocumentRef"><xsl:call-template name="docref"/><br/></xsl:for-each></td>
          </tr>
        </xsl:for-each>
      </table>
    </xsl:if>
  </xsl:template>

  <xsl:template name="documents">
    <xsl:if test="$mdv/def:leaf">
      <h2 id="documents">Documents</h2>
      <table>
        <tr><th>Document</th><th>Title</th><th>Location</th></tr>
        <xsl:for-each select="$mdv/def:leaf">
          <tr id="{@ID}">
            <td><xsl:value-of select="substring-after(@ID, 'LF.')"/></td>
            <td><xsl:value-of select="def:title"/></td>
            <td><a href="{@xlink:href}"><xsl:value-of select="@xlink:href"/></a></td>
          </tr>
        </xsl:for-each>
      </table>
    </xsl:if>
  </xsl:template>

  <!-- analysis results metadata (ARM 1.0) -->
  <xsl:template name="arm">
    <h2 id="arm">Analysis results</h2>
    <xsl:for-each select="$mdv/arm:AnalysisResultDisplays/arm:ResultDisplay">
      <h3 id="{@OID}"><xsl:value-of select="@Name"/>: <xsl:value-of select="odm:Description/odm:TranslatedText"/>
        <xsl:for-each select="def:DocumentRef"><span class="small"> [<xsl:call-template name="docref"/>]</span></xsl:for-each></h3>
      <table class="arm">
        <tr><th>Analysis result</th><th>Parameter</th><th>Datasets and selection</th>
          <th>Analysis variables</th><th>Reason / purpose</th></tr>
        <xsl:for-each select="arm:AnalysisResult">
          <tr id="{@OID}">
            <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
            <td><xsl:value-of select="key('item', @ParameterOID)/@Name"/></td>
            <td><xsl:for-each select="arm:AnalysisDatasets/arm:AnalysisDataset">
              <xsl:value-of select="key('group', @ItemGroupOID)/@Name"/>
              <xsl:if test="def:WhereClauseRef"> [<xsl:for-each select="def:WhereClauseRef"><xsl:call-template name="where"/></xsl:for-each>]</xsl:if><br/>
            </xsl:for-each></td>
            <td><xsl:for-each select="arm:AnalysisDatasets/arm:AnalysisDataset/arm:AnalysisVariable">
              <xsl:value-of select="key('group', ../@ItemGroupOID)/@Name"/>.<xsl:value-of select="key('item', @ItemOID)/@Name"/><br/>
            </xsl:for-each></td>
            <td><xsl:value-of select="@AnalysisReason"/><br/><xsl:value-of select="@AnalysisPurpose"/></td>
          </tr>
        </xsl:for-each>
      </table>
      <xsl:for-each select="arm:AnalysisResult">
        <xsl:variable name="before" select="preceding-sibling::arm:AnalysisResult[1]"/>
        <xsl:if test="arm:Documentation and (not($before) or string(arm:Documentation/odm:Description/odm:TranslatedText) != string($before/arm:Documentation/odm:Description/odm:TranslatedText))">
          <p><b>Documentation</b><xsl:if test="$before"> (from <xsl:value-of select="odm:Description/odm:TranslatedText"/> on)</xsl:if>.<xsl:text> </xsl:text>
            <xsl:value-of select="arm:Documentation/odm:Description/odm:TranslatedText"/>
            <xsl:for-each select="arm:Documentation/def:DocumentRef"> [<xsl:call-template name="docref"/>]</xsl:for-each></p>
        </xsl:if>
        <xsl:if test="arm:ProgrammingCode and (not($before) or string(arm:ProgrammingCode/arm:Code) != string($before/arm:ProgrammingCode/arm:Code))">
          <p><b>Programming code</b> (<xsl:value-of select="arm:ProgrammingCode/@Context"/>):</p>
          <p class="code"><xsl:value-of select="arm:ProgrammingCode/arm:Code"/></p>
        </xsl:if>
      </xsl:for-each>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
