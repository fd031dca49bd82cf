"""The CAP 1.2 decoder and checker against the example alerts published in the OASIS spec (Appendix A)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from broker.protocols.cap.codec import decode_alert, encode_alert
from broker.protocols.cap.model import (
    CapSeverity,
    Category,
    Certainty,
    Circle,
    MsgType,
    Point,
    Reference,
    ResponseType,
    Scope,
    Status,
    Urgency,
    ValuePair,
)

PDT = timezone(timedelta(hours=-7))

HOMELAND_SECURITY = b"""<?xml version = "1.0" encoding = "UTF-8"?>
<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>43b080713727</identifier>
  <sender>hsas@dhs.gov</sender>
  <sent>2003-04-02T14:39:01-05:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Security</category>
    <event>Homeland Security Advisory System Update</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <senderName>U.S. Government, Department of Homeland Security</senderName>
    <headline>Homeland Security Sets Code ORANGE</headline>
    <description>The Department of Homeland Security has elevated the Homeland Security Advisory System threat level to ORANGE / High in response to intelligence which may indicate a heightened threat of terrorism.</description>
    <instruction> A High Condition is declared when there is a high risk of terrorist attacks. In addition to the Protective Measures taken in the previous Threat Conditions, Federal departments and agencies should consider agency-specific Protective Measures in accordance with their existing plans.</instruction>
    <web>http://www.dhs.gov/dhspublic/display?theme=29</web>
    <parameter>
      <valueName>HSAS</valueName>
      <value>ORANGE</value>
    </parameter>
    <resource>
      <resourceDesc>Image file (GIF)</resourceDesc>
      <mimeType>image/gif</mimeType>
      <uri>http://www.dhs.gov/dhspublic/getAdvisoryImage</uri>
    </resource>
    <area>
      <areaDesc>U.S. nationwide and interests worldwide</areaDesc>
    </area>
  </info>
</alert>
"""

THUNDERSTORM = b"""<?xml version = "1.0" encoding = "UTF-8"?>
<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KSTO1055887203</identifier>
  <sender>KSTO@NWS.NOAA.GOV</sender>
  <sent>2003-06-17T14:57:00-07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Met</category>
    <event>SEVERE THUNDERSTORM</event>
    <responseType>Shelter</responseType>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <eventCode>
      <valueName>SAME</valueName>
      <value>SVR</value>
    </eventCode>
    <expires>2003-06-17T16:00:00-07:00</expires>
    <senderName>NATIONAL WEATHER SERVICE SACRAMENTO CA</senderName>
    <headline>SEVERE THUNDERSTORM WARNING</headline>
    <description> AT 254 PM PDT...NATIONAL WEATHER SERVICE DOPPLER RADAR INDICATED A SEVERE THUNDERSTORM OVER SOUTH CENTRAL ALPINE COUNTY...OR ABOUT 18 MILES SOUTHEAST OF KIRKWOOD...MOVING SOUTHWEST AT 5 MPH. HAIL...INTENSE RAIN AND STRONG DAMAGING WINDS ARE LIKELY WITH THIS STORM.</description>
    <instruction>TAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES.</instruction>
    <contact>BARUFFALDI/JUSKIE</contact>
    <area>
      <areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME NORTHEASTERN CALAVERAS COUNTY IN CALIFORNIA, SOUTHWESTERN ALPINE COUNTY IN CALIFORNIA</areaDesc>
      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
      <geocode>
        <valueName>SAME</valueName>
        <value>006109</value>
      </geocode>
      <geocode>
        <valueName>SAME</valueName>
        <value>006009</value>
      </geocode>
      <geocode>
        <valueName>SAME</valueName>
        <value>006003</value>
      </geocode>
    </area>
  </info>
</alert>
"""

EARTHQUAKE_UPDATE = b"""<?xml version = "1.0" encoding = "UTF-8"?>
<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>TRI13970876.2</identifier>
  <sender>trinet@caltech.edu</sender>
  <sent>2003-06-11T20:56:00-07:00</sent>
  <status>Actual</status>
  <msgType>Update</msgType>
  <scope>Public</scope>
  <references>trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00</references>
  <info>
    <category>Geo</category>
    <event>Earthquake</event>
    <urgency>Past</urgency>
    <severity>Minor</severity>
    <certainty>Observed</certainty>
    <senderName>Southern California Seismic Network (TriNet) operated by Caltech and USGS</senderName>
    <headline>EQ 3.4 Imperial County CA</headline>
    <description>A minor earthquake measuring 3.4 on the Richter scale occurred near Brawley, California at 8:30 PM Pacific Daylight Time on Wednesday, June 11, 2003. (This event has now been reviewed by a seismologist)</description>
    <web>http://www.trinet.org/scsn/scsn.html</web>
    <parameter>
      <valueName>EventID</valueName>
      <value>13970876</value>
    </parameter>
    <parameter>
      <valueName>Version</valueName>
      <value>1</value>
    </parameter>
    <parameter>
      <valueName>Magnitude</valueName>
      <value>3.4 Ml</value>
    </parameter>
    <parameter>
      <valueName>Depth</valueName>
      <value>11.8 mi.</value>
    </parameter>
    <parameter>
      <valueName>Quality</valueName>
      <value>Excellent</value>
    </parameter>
    <area>
      <areaDesc>1 mi. WSW of Brawley, CA; 11 mi. N of El Centro, CA; 30 mi. E of OCOTILLO (quarry); 1 mi. N of the Imperial Fault</areaDesc>
      <circle>32.9525,-115.5527 0</circle>
    </area>
  </info>
</alert>
"""

AMBER_MULTILINGUAL = """<?xml version = "1.0" encoding = "UTF-8"?>
<alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
   <identifier>KAR0-0306112239-SW</identifier>
   <sender>KARO@CLETS.DOJ.CA.GOV</sender>
   <sent>2003-06-11T22:39:00-07:00</sent>
   <status>Actual</status>
   <msgType>Alert</msgType>
   <source>SW</source>
   <scope>Public</scope>
   <info>
     <language>en-US</language>
     <category>Rescue</category>
     <event>Child Abduction</event>
     <urgency>Immediate</urgency>
     <severity>Severe</severity>
     <certainty>Likely</certainty>
     <eventCode>
        <valueName>SAME</valueName>
        <value>CAE</value>
     </eventCode>
     <senderName>Los Angeles Police Dept - LAPD</senderName>
     <headline>Amber Alert in Los Angeles County</headline>
     <description>DATE/TIME: 06/11/03, 1915 HRS.  VICTIM(S): KHAYRI DOE JR. M/B BLK/BRO 3'0", 40 LBS. LIGHT COMPLEXION.  DOB 06/24/01. WEARING RED SHORTS, WHITE T-SHIRT, W/BLUE COLLAR.  LOCATION: 5721 DOE ST., LOS ANGELES, CA.  SUSPECT(S): KHAYRI DOE SR. DOB 04/18/71 M/B, BLK HAIR, BRO EYE. VEHICLE: 81' BUICK 2-DR, BLUE (4XXX000).</description>
     <contact>DET. SMITH, 77TH DIV, LOS ANGELES POLICE DEPT-LAPD AT 213 485-2389</contact>
     <area>
        <areaDesc>Los Angeles County</areaDesc>
        <geocode>
           <valueName>SAME</valueName>
           <value>006037</value>
        </geocode>
     </area>
   </info>
   <info>
     <language>es-US</language>
     <category>Rescue</category>
     <event>Abducci\u00f3n de Ni\u00f1o</event>
     <urgency>Immediate</urgency>
     <severity>Severe</severity>
     <certainty>Likely</certainty>
     <eventCode>
        <valueName>SAME</valueName>
        <value>CAE</value>
     </eventCode>
     <senderName>Departamento de Polic\u00eda de Los \u00c1ngeles - LAPD</senderName>
     <headline>Alerta Amber en el condado de Los \u00c1ngeles</headline>
     <description>DATE/TIME: 06/11/03, 1915 HORAS.</description>
     <contact>DET. SMITH, 77TH DIV, LOS ANGELES POLICE DEPT-LAPD AT 213 485-2389</contact>
     <area>
        <areaDesc>condado de Los \u00c1ngeles</areaDesc>
        <geocode>
           <valueName>SAME</valueName>
           <value>006037</value>
        </geocode>
     </area>
   </info>
</alert>
""".encode()

EXAMPLES = {
    "homeland_security": HOMELAND_SECURITY,
    "thunderstorm": THUNDERSTORM,
    "earthquake_update": EARTHQUAKE_UPDATE,
    "amber_multilingual": AMBER_MULTILINGUAL,
}


def test_homeland_security_advisory() -> None:
    alert = decode_alert(HOMELAND_SECURITY)
    assert (alert.identifier, alert.sender) == ("43b080713727", "hsas@dhs.gov")
    assert alert.sent == datetime(2003, 4, 2, 14, 39, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert (alert.status, alert.msg_type, alert.scope) == (
        Status.ACTUAL,
        MsgType.ALERT,
        Scope.PUBLIC,
    )
    (info,) = alert.infos
    assert info.categories == (Category.SECURITY,)
    assert (info.urgency, info.severity, info.certainty) == (
        Urgency.IMMEDIATE, CapSeverity.SEVERE, Certainty.LIKELY,
    )  # fmt: skip
    assert info.parameters == (ValuePair("HSAS", "ORANGE"),)
    assert info.resources[0].mime_type == "image/gif"
    assert info.areas[0].description == "U.S. nationwide and interests worldwide"


def test_severe_thunderstorm_warning() -> None:
    alert = decode_alert(THUNDERSTORM)
    (info,) = alert.infos
    assert info.response_types == (ResponseType.SHELTER,)
    assert info.event_codes == (ValuePair("SAME", "SVR"),)
    assert info.expires == datetime(2003, 6, 17, 16, 0, tzinfo=PDT)
    (area,) = info.areas
    assert area.polygons[0][0] == Point(38.47, -120.14) == area.polygons[0][-1]
    assert len(area.polygons[0]) == 5
    assert [g.value for g in area.geocodes] == ["006109", "006009", "006003"]


def test_earthquake_update_references_the_earlier_message() -> None:
    alert = decode_alert(EARTHQUAKE_UPDATE)
    assert alert.msg_type is MsgType.UPDATE
    assert alert.references == (
        Reference("trinet@caltech.edu", "TRI13970876.1", datetime(2003, 6, 11, 20, 30, tzinfo=PDT)),
    )
    (info,) = alert.infos
    assert info.urgency is Urgency.PAST and info.certainty is Certainty.OBSERVED
    assert info.areas[0].circles == (Circle(Point(32.9525, -115.5527), 0.0),)
    assert ValuePair("Magnitude", "3.4 Ml") in info.parameters


def test_amber_alert_has_two_languages() -> None:
    alert = decode_alert(AMBER_MULTILINGUAL)
    assert alert.source == "SW"
    assert [i.language for i in alert.infos] == ["en-US", "es-US"]
    assert alert.infos[1].event == "Abducci\u00f3n de Ni\u00f1o"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_published_examples_survive_our_encoder(name: str) -> None:
    alert = decode_alert(EXAMPLES[name])
    assert decode_alert(encode_alert(alert)) == alert
